# Warnings, the optional -march, vector width and sanitizers, applied target by target.
# SANITIZE_LINK_ONLY links the sanitizer runtimes without instrumenting the target's own code (the
# test programs: their checks and helpers triple the build time under ASan + UBSan, while the
# library and the CLI they call stay instrumented). LINE_TABLES_ONLY (the test programs) keeps only
# line tables (-g1) where the build type asks for debug info: full debug info of their thousands of
# checks costs a fifth of their compile time (CI builds them twice), and a failing check names its
# own line.
function(tweedie_set_warnings target)
  cmake_parse_arguments(arg "SANITIZE_LINK_ONLY;LINE_TABLES_ONLY" "" "" ${ARGN})
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                         -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual)
  if(TWEEDIE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(arg_LINE_TABLES_ONLY)
    target_compile_options(${target} PRIVATE $<$<CONFIG:RelWithDebInfo,Debug>:-g1>)
  endif()
  if(TWEEDIE_ARCH)
    target_compile_options(${target} PRIVATE -march=${TWEEDIE_ARCH})
    # GCC 12 warns inside its own AVX-512 intrinsics as Eigen's reductions inline them (`__Y = __Y`
    # in avx512fintrin.h, a false positive), dozens of times per build; the dev preset, built
    # without -march, keeps the warning as an error.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
    endif()
  endif()
  if(TWEEDIE_VECTOR_WIDTH AND TWEEDIE_HAVE_VECTOR_WIDTH_FLAG)
    target_compile_options(${target} PRIVATE -mprefer-vector-width=${TWEEDIE_VECTOR_WIDTH})
  endif()
  if(TWEEDIE_SANITIZE AND NOT arg_SANITIZE_LINK_ONLY)
    target_compile_options(${target} PRIVATE -fsanitize=${TWEEDIE_SANITIZE} -fno-omit-frame-pointer
                           -fno-sanitize-recover=all)
    if(TWEEDIE_SANITIZE_EXCLUDE)
      target_compile_options(${target} PRIVATE -fno-sanitize=${TWEEDIE_SANITIZE_EXCLUDE})
    endif()
  endif()
  if(TWEEDIE_SANITIZE)
    target_link_options(${target} PRIVATE -fsanitize=${TWEEDIE_SANITIZE})
  endif()
  # Eigen assumes malloc's alignment except under ASan (__SANITIZE_ADDRESS__, where it is 0):
  # link-only code must free a matrix as the instrumented library allocates it.
  if(TWEEDIE_SANITIZE MATCHES "address" AND arg_SANITIZE_LINK_ONLY)
    target_compile_definitions(${target} PRIVATE EIGEN_MALLOC_ALREADY_ALIGNED=0)
  endif()
endfunction()
