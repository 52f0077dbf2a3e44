#include "heap/reachability.hpp"
