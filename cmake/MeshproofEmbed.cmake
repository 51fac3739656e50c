# meshproof_embed_text(<out.cc> <input> <namespace> <symbol>)
# Generates a translation unit defining `std::string_view <namespace>::<symbol>()` with the file's bytes,
# regenerated whenever the input changes. Bytes are written as a char array, so any content is safe.
function(meshproof_embed_text out input ns symbol)
  add_custom_command(
    OUTPUT "${out}"
    COMMAND "${CMAKE_COMMAND}" -DIN=${input} -DOUT=${out} -DNS=${ns} -DSYMBOL=${symbol}
            -P "${PROJECT_SOURCE_DIR}/cmake/EmbedFile.cmake"
    DEPENDS "${input}" "${PROJECT_SOURCE_DIR}/cmake/EmbedFile.cmake"
    COMMENT "Embedding ${input}"
    VERBATIM)
endfunction()
