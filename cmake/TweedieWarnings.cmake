# Warnings, the optional -march and sanitizers, applied target by target.
function(tweedie_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                         -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual)
  if(TWEEDIE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(TWEEDIE_ARCH)
    target_compile_options(${target} PRIVATE -march=${TWEEDIE_ARCH})
  endif()
  if(TWEEDIE_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${TWEEDIE_SANITIZE} -fno-omit-frame-pointer
                           -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${TWEEDIE_SANITIZE})
  endif()
endfunction()
