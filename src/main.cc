// meshproof: a resilience lab for service meshes. See README.md and DESIGN.md.
#include <exception>
#include <iostream>

#include "meshproof/cli/app.h"

int main(int argc, char** argv) {
  try {
    return meshproof::cli::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "meshproof: internal error: " << e.what() << '\n';
    return 70; // EX_SOFTWARE: a bug, never a user error
  }
}
