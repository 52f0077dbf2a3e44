"use strict";
var frames = [], details, matched, unzoomButton, searchButton, icButton, current = null,
  searching = null, ignoreCase = false;
function init() {
  details = document.getElementById("details");
  matched = document.getElementById("matched");
  unzoomButton = document.getElementById("unzoom");
  searchButton = document.getElementById("search");
  icButton = document.getElementById("ignorecase");
  var gs = document.getElementById("frames").getElementsByTagName("g");
  for (var i = 0; i < gs.length; i++) {
    var g = gs[i];
    frames.push({g: g, rect: g.getElementsByTagName("rect")[0],
      text: g.getElementsByTagName("text")[0], name: g.getAttribute("data-name"),
      title: g.getElementsByTagName("title")[0].textContent,
      s: +g.getAttribute("data-s"), c: +g.getAttribute("data-c"), d: +g.getAttribute("data-d")});
    g.frame = frames[frames.length - 1];
  }
  var area = document.getElementById("frames");
  area.addEventListener("mouseover", function (e) {
    var f = owner(e.target); if (f) details.textContent = f.title;
  });
  area.addEventListener("mouseout", function () { details.textContent = " "; });
  area.addEventListener("click", function (e) { var f = owner(e.target); if (f) zoom(f); });
  unzoomButton.addEventListener("click", resetZoom);
  searchButton.addEventListener("click", function () {
    if (searching !== null) { clearSearch(); return; }
    var re = prompt("Search frames (regular expression" + (ignoreCase ? ", ignoring case" : "") + "):", "");
    if (re) search(re);
  });
  icButton.addEventListener("click", toggleIgnoreCase);
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") resetZoom();
    if ((e.ctrlKey || e.metaKey) && e.key === "f") { e.preventDefault(); searchButton.dispatchEvent(new Event("click")); }
    if ((e.ctrlKey || e.metaKey) && e.key === "i") { e.preventDefault(); toggleIgnoreCase(); }
  });
}
// The "ic" control: searches ignore case while it is on; a search shown is run again.
function toggleIgnoreCase() {
  ignoreCase = !ignoreCase;
  icButton.setAttribute("class", ignoreCase ? "on" : "");
  if (searching !== null) search(searching);
  return ignoreCase;
}
function owner(node) {
  while (node && !node.frame) node = node.parentNode;
  return node ? node.frame : null;
}
function fit(f, x, w) {
  f.rect.setAttribute("x", x.toFixed(2));
  f.rect.setAttribute("width", w.toFixed(2));
  f.text.setAttribute("x", (x + 3).toFixed(2));
  var chars = Math.floor((w - 6) / (FONT_SIZE * FONT_WIDTH));
  var name = Array.from(f.name);
  f.text.textContent = chars < 3 ? "" : name.length <= chars ? f.name : name.slice(0, chars - 2).join("") + "..";
}
function zoom(z) {
  current = z;
  for (var i = 0; i < frames.length; i++) {
    var f = frames[i];
    if (f.d >= z.d && f.s >= z.s && f.s + f.c <= z.s + z.c) {
      f.g.style.display = ""; f.g.style.opacity = "";
      fit(f, PAD_X + (f.s - z.s) / z.c * WIDTH, f.c / z.c * WIDTH);
    } else if (f.d < z.d && f.s <= z.s && f.s + f.c >= z.s + z.c) {
      f.g.style.display = ""; f.g.style.opacity = "0.5";
      fit(f, PAD_X, WIDTH);
    } else {
      f.g.style.display = "none";
    }
  }
  unzoomButton.style.display = z.d === 0 ? "none" : "";
}
function resetZoom() {
  current = null;
  for (var i = 0; i < frames.length; i++) {
    var f = frames[i];
    f.g.style.display = ""; f.g.style.opacity = "";
    fit(f, PAD_X + f.s / TOTAL * WIDTH, f.c / TOTAL * WIDTH);
  }
  unzoomButton.style.display = "none";
}
// Highlights the frames whose name matches `pattern`; `ic` (default: the "ic" control) ignores case.
function search(pattern, ic) {
  if (ic !== undefined && !!ic !== ignoreCase) { ignoreCase = !ignoreCase; icButton.setAttribute("class", ignoreCase ? "on" : ""); }
  var re;
  try { re = new RegExp(pattern, ignoreCase ? "i" : ""); } catch (err) { matched.textContent = "Invalid regex"; return -1; }
  searching = pattern;
  var hits = [];
  for (var i = 0; i < frames.length; i++) {
    var f = frames[i];
    if (f.fill === undefined) f.fill = f.rect.getAttribute("fill");
    if (re.test(f.name)) { f.rect.setAttribute("fill", "rgb(230,0,230)"); hits.push([f.s, f.s + f.c]); }
    else f.rect.setAttribute("fill", f.fill);
  }
  hits.sort(function (a, b) { return a[0] - b[0]; });
  var covered = 0, end = -1;
  for (var j = 0; j < hits.length; j++) {
    var a = Math.max(hits[j][0], end), b = hits[j][1];
    if (b > a) covered += b - a;
    end = Math.max(end, b);
  }
  var pct = 100 * covered / TOTAL;
  matched.textContent = "Matched: " + pct.toFixed(2) + "%";
  searchButton.textContent = "Reset Search";
  return pct;
}
function clearSearch() {
  searching = null;
  for (var i = 0; i < frames.length; i++) {
    if (frames[i].fill !== undefined) frames[i].rect.setAttribute("fill", frames[i].fill);
  }
  matched.textContent = " ";
  searchButton.textContent = "Search";
}
