#include "meshproof/render/yaml_out.h"

#include <cctype>

namespace meshproof::render {

void emitNode(YAML::Emitter& e, const YAML::Node& node) {
  switch (node.Type()) {
  case YAML::NodeType::Null:
  case YAML::NodeType::Undefined:
    e << YAML::Null;
    return;
  case YAML::NodeType::Scalar:
    if (node.Tag() == "!") {
      e << YAML::DoubleQuoted << node.Scalar();
    } else {
      e << node.Scalar();
    }
    return;
  case YAML::NodeType::Sequence:
    if (node.Style() == YAML::EmitterStyle::Flow) {
      e << YAML::Flow;
    }
    e << YAML::BeginSeq;
    for (const YAML::Node& item : node) {
      emitNode(e, item);
    }
    e << YAML::EndSeq;
    return;
  case YAML::NodeType::Map:
    if (node.Style() == YAML::EmitterStyle::Flow) {
      e << YAML::Flow;
    }
    e << YAML::BeginMap;
    for (const auto& kv : node) {
      e << YAML::Key;
      emitNode(e, kv.first);
      e << YAML::Value;
      emitNode(e, kv.second);
    }
    e << YAML::EndMap;
    return;
  }
}

std::string lowerAscii(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

std::string emitYaml(const YAML::Node& node) {
  YAML::Emitter e;
  emitNode(e, node);
  return e.c_str();
}

} // namespace meshproof::render
