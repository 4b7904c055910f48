# TensorBoard event messages (src/train/proto/tensorboard_event.proto), compiled by Debian's protoc
# into the static library zeroth_tensorboard_proto. Its own target keeps the
# generated code out of the torch PCH and the -Wall of zeroth's sources. Include the header as
# "tensorboard_event.pb.h"; only src/train/tensorboard.cpp and its test see it (source-level
# include directory), so the other sources' flags, and their compiled objects, stay as they are.
find_package(Protobuf REQUIRED)
if(NOT TARGET protobuf::protoc)
  message(FATAL_ERROR "protoc not found: install Debian's protobuf-compiler (scripts/setup.sh does)")
endif()
set(ZEROTH_PROTO_OUT_DIR "${CMAKE_CURRENT_BINARY_DIR}/proto")
file(MAKE_DIRECTORY "${ZEROTH_PROTO_OUT_DIR}")
add_library(zeroth_tensorboard_proto STATIC src/train/proto/tensorboard_event.proto)
protobuf_generate(TARGET zeroth_tensorboard_proto LANGUAGE cpp APPEND_PATH PROTOC_OUT_DIR "${ZEROTH_PROTO_OUT_DIR}")
target_include_directories(zeroth_tensorboard_proto PUBLIC "${ZEROTH_PROTO_OUT_DIR}")
set_target_properties(zeroth_tensorboard_proto PROPERTIES POSITION_INDEPENDENT_CODE ON)
# The full library, not -lite: Debian's LibTorch already loads libprotobuf.so, and one process
# should not carry both (they define the same symbols). LITE_RUNTIME code runs on either.
target_link_libraries(zeroth_tensorboard_proto PUBLIC protobuf::libprotobuf)
set_source_files_properties(src/train/tensorboard.cpp PROPERTIES INCLUDE_DIRECTORIES "${ZEROTH_PROTO_OUT_DIR}")
