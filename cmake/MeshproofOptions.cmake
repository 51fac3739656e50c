# Build options shared by every meshproof target.

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${CCACHE_PROGRAM}")
endif()

set(MESHPROOF_SANITIZE "" CACHE STRING "Sanitizers for every target, e.g. address,undefined")
if(MESHPROOF_SANITIZE)
  add_compile_options(-fsanitize=${MESHPROOF_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${MESHPROOF_SANITIZE})
endif()

# Unity builds (the presets' default, batches of 8 sources): Asio's coroutine templates are then
# instantiated once per batch instead of once per file, which halves a cold asan build on 2 cores
# (release: a third less; docs/benchmarks.md). A source included into a batch counts as a header for -Wsubobject-linkage, so its
# file-local (anonymous-namespace) types held by a class of that same file would warn; the warning is
# for real headers, which the per-file debug preset still checks.
if(CMAKE_UNITY_BUILD)
  add_compile_options(-Wno-subobject-linkage)
endif()

# Warnings as errors on project code only (third-party headers come in as SYSTEM).
# -Wno-restrict: GCC 12 reports false -Wrestrict positives inside libstdc++'s std::string operator+
# at -O2 and above (GCC bug 105329); the warning is off so that string code builds in release.
function(meshproof_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror -Wshadow
                                           -Wnon-virtual-dtor -Wimplicit-fallthrough -Wno-restrict)
endfunction()

# meshproof_library(<folder> SOURCES ... DEPS ...): one static library per subsystem folder.
# The DEPS list is the layering graph of DESIGN.md section 3; tests/layering checks the includes.
function(meshproof_library folder)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  set(target meshproof_${folder})
  add_library(${target} STATIC ${ARG_SOURCES})
  target_include_directories(${target} PUBLIC "${PROJECT_SOURCE_DIR}/src")
  target_link_libraries(${target} PUBLIC ${ARG_DEPS})
  meshproof_warnings(${target})
endfunction()

# Targets whose sources include net/asio.h. GCC 12 reports a false -Wmismatched-new-delete inside
# Asio 1.18's awaitable frame allocator (operator new in thread_info_base, class operator delete)
# when inlining under -fsanitize; the pair is Asio's own and matched.
function(meshproof_asio_warnings target)
  target_compile_options(${target} PRIVATE -Wno-mismatched-new-delete)
endfunction()
