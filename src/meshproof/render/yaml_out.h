#pragma once
// Internal to render/: YAML output helpers over yaml-cpp's emitter.

#include <yaml-cpp/yaml.h>

#include <string>

namespace meshproof::render {

// Emits `node` as YAML that reads back to the same values: a scalar that was quoted in the source
// (yaml-cpp tags it "!") stays double-quoted, so "true" or "100" remain strings; flow collections
// stay flow, everything else is block style. yaml-cpp keeps mapping keys in source order.
std::string emitYaml(const YAML::Node& node);

// ASCII lower case ("VirtualService" -> "virtualservice": file names, runbook anchors).
std::string lowerAscii(std::string s);

// Appends `node` to an emitter already in use (the recursive step of emitYaml).
void emitNode(YAML::Emitter& e, const YAML::Node& node);

} // namespace meshproof::render
