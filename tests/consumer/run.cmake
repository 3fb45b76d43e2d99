# Installs the build tree into a scratch prefix, then configures, builds and runs the consumer.
# Arguments: -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... and, when the tree has tweedie::torch,
# -DTORCH_MODULE=a .pt file for the consumer of that component.
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}")
  endif()
endfunction()
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
set(expect_torch OFF)
if(TORCH_MODULE)
  set(expect_torch ON)
endif()
run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -G Ninja -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DTWEEDIE_EXPECT_TORCH=${expect_torch})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
if(TORCH_MODULE)
  run(${WORK_DIR}/build/consumer_torch ${TORCH_MODULE})
endif()
