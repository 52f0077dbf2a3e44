#include "unwind/expression.hpp"

#include <dwarf.h>

#include <array>

namespace perfscope::unwind {

EvalStatus evaluate(std::span<const Dwarf_Op> ops, const Registers& regs, bool has_cfa,
                    std::uint64_t cfa, const ReadWord& read, std::uint64_t& result,
                    bool& is_value) {
  std::array<std::uint64_t, 16> stack{};
  std::size_t depth = 0;
  is_value = false;
  auto push = [&](std::uint64_t v) {
    if (depth == stack.size()) return false;
    stack[depth++] = v;
    return true;
  };
  // Pops b then a for binary operations: a OP b.
  auto binary = [&](auto op) {
    if (depth < 2) return false;
    const std::uint64_t b = stack[--depth];
    const std::uint64_t a = stack[depth - 1];
    stack[depth - 1] = op(a, b);
    return true;
  };
  auto reg_value = [&](unsigned r, std::uint64_t& out) {
    if (r >= kRegisterCount || !regs.has(static_cast<int>(r))) return false;
    out = regs.get(static_cast<int>(r));
    return true;
  };

  for (std::size_t i = 0; i < ops.size(); ++i) {
    const Dwarf_Op& op = ops[i];
    const std::uint8_t atom = op.atom;
    bool ok = true;
    if (atom >= DW_OP_lit0 && atom <= DW_OP_lit31) {
      ok = push(atom - DW_OP_lit0);
    } else if (atom >= DW_OP_breg0 && atom <= DW_OP_breg31) {
      std::uint64_t v = 0;
      if (!reg_value(atom - DW_OP_breg0, v)) return EvalStatus::unknown_register;
      ok = push(v + op.number);
    } else {
      switch (atom) {
        case DW_OP_bregx: {
          std::uint64_t v = 0;
          if (op.number > 64 || !reg_value(static_cast<unsigned>(op.number), v)) {
            return EvalStatus::unknown_register;
          }
          ok = push(v + op.number2);
          break;
        }
        case DW_OP_call_frame_cfa:
          if (!has_cfa) return EvalStatus::unsupported;
          ok = push(cfa);
          break;
        case DW_OP_addr:
        case DW_OP_const1u:
        case DW_OP_const1s:
        case DW_OP_const2u:
        case DW_OP_const2s:
        case DW_OP_const4u:
        case DW_OP_const4s:
        case DW_OP_const8u:
        case DW_OP_const8s:
        case DW_OP_constu:
        case DW_OP_consts:
          ok = push(op.number);  // libdw sign-extends the signed forms into the word
          break;
        case DW_OP_dup:
          ok = depth >= 1 && push(stack[depth - 1]);
          break;
        case DW_OP_drop:
          ok = depth >= 1;
          if (ok) --depth;
          break;
        case DW_OP_over:
          ok = depth >= 2 && push(stack[depth - 2]);
          break;
        case DW_OP_pick:
          ok = op.number < depth && push(stack[depth - 1 - op.number]);
          break;
        case DW_OP_swap:
          ok = depth >= 2;
          if (ok) std::swap(stack[depth - 1], stack[depth - 2]);
          break;
        case DW_OP_rot:
          ok = depth >= 3;
          if (ok) {  // top → third, second → top, third → second
            const std::uint64_t top = stack[depth - 1];
            stack[depth - 1] = stack[depth - 2];
            stack[depth - 2] = stack[depth - 3];
            stack[depth - 3] = top;
          }
          break;
        case DW_OP_deref: {
          if (depth < 1) return EvalStatus::unsupported;
          std::uint64_t v = 0;
          if (!read(stack[depth - 1], v)) return EvalStatus::bad_memory;
          stack[depth - 1] = v;
          break;
        }
        case DW_OP_abs:
          ok = depth >= 1;
          if (ok && static_cast<std::int64_t>(stack[depth - 1]) < 0) {
            stack[depth - 1] = 0 - stack[depth - 1];
          }
          break;
        case DW_OP_neg:
          ok = depth >= 1;
          if (ok) stack[depth - 1] = 0 - stack[depth - 1];
          break;
        case DW_OP_not:
          ok = depth >= 1;
          if (ok) stack[depth - 1] = ~stack[depth - 1];
          break;
        case DW_OP_plus_uconst:
          ok = depth >= 1;
          if (ok) stack[depth - 1] += op.number;
          break;
        case DW_OP_plus:
          ok = binary([](std::uint64_t a, std::uint64_t b) { return a + b; });
          break;
        case DW_OP_minus:
          ok = binary([](std::uint64_t a, std::uint64_t b) { return a - b; });
          break;
        case DW_OP_mul:
          ok = binary([](std::uint64_t a, std::uint64_t b) { return a * b; });
          break;
        case DW_OP_and:
          ok = binary([](std::uint64_t a, std::uint64_t b) { return a & b; });
          break;
        case DW_OP_or:
          ok = binary([](std::uint64_t a, std::uint64_t b) { return a | b; });
          break;
        case DW_OP_xor:
          ok = binary([](std::uint64_t a, std::uint64_t b) { return a ^ b; });
          break;
        case DW_OP_shl:
          ok = binary([](std::uint64_t a, std::uint64_t b) { return b < 64 ? a << b : 0; });
          break;
        case DW_OP_shr:
          ok = binary([](std::uint64_t a, std::uint64_t b) { return b < 64 ? a >> b : 0; });
          break;
        case DW_OP_shra:
          ok = binary([](std::uint64_t a, std::uint64_t b) {
            const auto s = static_cast<std::int64_t>(a);
            return static_cast<std::uint64_t>(b < 64 ? s >> b : (s < 0 ? -1 : 0));
          });
          break;
        case DW_OP_div:
        case DW_OP_mod: {
          if (depth < 2 || stack[depth - 1] == 0) return EvalStatus::unsupported;
          const auto b = static_cast<std::int64_t>(stack[--depth]);
          const auto a = static_cast<std::int64_t>(stack[depth - 1]);
          stack[depth - 1] = static_cast<std::uint64_t>(atom == DW_OP_div ? a / b : a % b);
          break;
        }
        case DW_OP_eq:
          ok = binary([](std::uint64_t a, std::uint64_t b) -> std::uint64_t { return a == b; });
          break;
        case DW_OP_ne:
          ok = binary([](std::uint64_t a, std::uint64_t b) -> std::uint64_t { return a != b; });
          break;
        case DW_OP_lt:
        case DW_OP_le:
        case DW_OP_gt:
        case DW_OP_ge: {
          if (depth < 2) return EvalStatus::unsupported;
          const auto b = static_cast<std::int64_t>(stack[--depth]);
          const auto a = static_cast<std::int64_t>(stack[depth - 1]);
          bool r = false;
          if (atom == DW_OP_lt) r = a < b;
          if (atom == DW_OP_le) r = a <= b;
          if (atom == DW_OP_gt) r = a > b;
          if (atom == DW_OP_ge) r = a >= b;
          stack[depth - 1] = r ? 1 : 0;
          break;
        }
        case DW_OP_nop:
          break;
        case DW_OP_stack_value:
          if (i + 1 != ops.size()) return EvalStatus::unsupported;
          is_value = true;
          break;
        default:
          // Branches (skip, bra) are rare in CFI and libdw hands out their targets as byte
          // offsets; like every other operation, they are not guessed at.
          return EvalStatus::unsupported;
      }
    }
    if (!ok) return EvalStatus::unsupported;
  }
  if (depth == 0) return EvalStatus::unsupported;
  result = stack[depth - 1];
  return EvalStatus::ok;
}

bool cfa_plus(const Dwarf_Op* ops, std::size_t n, std::uint64_t& offset) {
  if (n == 0 || ops[0].atom != DW_OP_call_frame_cfa) return false;
  if (n == 1) {
    offset = 0;
    return true;
  }
  if (n == 2 && ops[1].atom == DW_OP_plus_uconst) {
    offset = ops[1].number;
    return true;
  }
  if (n == 3 && (ops[1].atom == DW_OP_consts || ops[1].atom == DW_OP_constu) &&
      ops[2].atom == DW_OP_plus) {
    offset = ops[1].number;
    return true;
  }
  return false;
}

}  // namespace perfscope::unwind
