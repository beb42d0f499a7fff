#pragma once
// A small XML reader for S3 response bodies (ListObjectsV2, multipart, errors). It accepts the
// subset S3 sends: a prolog, comments, elements with attributes, text with the five named and
// numeric entities, CDATA. Anything else, or input that is not well formed, is an error (never a
// crash): the body came over the network.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/common/status.h"

namespace eddy::storage {

struct XmlElement {
  std::string name;  // local name (namespace prefix dropped)
  std::string text;  // concatenated, unescaped character data directly inside
  std::vector<XmlElement> children;

  // First child named `name`, or nullptr.
  const XmlElement* Child(std::string_view child_name) const;
  // Text of the first child named `name`, or nullptr when there is none.
  const std::string* ChildText(std::string_view child_name) const;
};

// Parses a document with exactly one root element. Nesting deeper than 32 is rejected.
Result<XmlElement> ParseXml(std::string_view body);

// Escapes text for use inside an element (&, <, >, ", ').
std::string XmlEscape(std::string_view text);

}  // namespace eddy::storage
