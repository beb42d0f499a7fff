#include "storage/xml.h"

#include <cstdint>

namespace eddy::storage {
namespace {

constexpr int kMaxDepth = 32;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':' || static_cast<unsigned char>(c) >= 0x80;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

class Parser {
 public:
  explicit Parser(std::string_view in) : in_(in) {}

  Result<XmlElement> Document() {
    EDDY_RETURN_IF_ERROR(SkipMisc());
    if (AtEnd() || Peek() != '<') return Error("expected a root element");
    XmlElement root;
    EDDY_RETURN_IF_ERROR(Element(&root, 1));
    EDDY_RETURN_IF_ERROR(SkipMisc());
    if (!AtEnd()) return Error("content after the root element");
    return root;
  }

 private:
  bool AtEnd() const { return pos_ >= in_.size(); }
  char Peek() const { return in_[pos_]; }
  bool StartsWith(std::string_view s) const { return in_.substr(pos_).starts_with(s); }
  Status Error(const std::string& why) const {
    return InvalidArgument("malformed XML at byte " + std::to_string(pos_) + ": " + why);
  }
  void SkipSpace() {
    while (!AtEnd() && IsSpace(Peek())) ++pos_;
  }
  // Skips to just after `end`; error if it never comes.
  Status SkipPast(std::string_view end, const char* what) {
    size_t at = in_.find(end, pos_);
    if (at == std::string_view::npos) return Error(std::string("unterminated ") + what);
    pos_ = at + end.size();
    return Status::Ok();
  }
  // Whitespace, the prolog, comments and processing instructions outside the root.
  Status SkipMisc() {
    for (;;) {
      SkipSpace();
      if (StartsWith("<?")) {
        EDDY_RETURN_IF_ERROR(SkipPast("?>", "processing instruction"));
      } else if (StartsWith("<!--")) {
        EDDY_RETURN_IF_ERROR(SkipPast("-->", "comment"));
      } else if (StartsWith("<!")) {
        return Error("DTDs are not supported");
      } else {
        return Status::Ok();
      }
    }
  }
  Result<std::string> Name() {
    size_t start = pos_;
    while (!AtEnd() && IsNameChar(Peek())) ++pos_;
    if (pos_ == start) return Error("expected a name");
    return std::string(in_.substr(start, pos_ - start));
  }
  static std::string LocalName(const std::string& qname) {
    size_t colon = qname.rfind(':');
    return colon == std::string::npos ? qname : qname.substr(colon + 1);
  }
  // At '&': appends the decoded entity.
  Status Entity(std::string* out) {
    size_t semi = in_.find(';', pos_);
    if (semi == std::string_view::npos || semi - pos_ > 12) return Error("bad entity");
    std::string_view ent = in_.substr(pos_ + 1, semi - pos_ - 1);
    if (ent == "amp")
      out->push_back('&');
    else if (ent == "lt")
      out->push_back('<');
    else if (ent == "gt")
      out->push_back('>');
    else if (ent == "quot")
      out->push_back('"');
    else if (ent == "apos")
      out->push_back('\'');
    else if (ent.size() >= 2 && ent[0] == '#') {
      bool hex = ent[1] == 'x' || ent[1] == 'X';
      std::string_view digits = ent.substr(hex ? 2 : 1);
      if (digits.empty()) return Error("bad character reference");
      uint32_t cp = 0;
      for (char c : digits) {
        uint32_t d;
        if (c >= '0' && c <= '9')
          d = static_cast<uint32_t>(c - '0');
        else if (hex && c >= 'a' && c <= 'f')
          d = static_cast<uint32_t>(c - 'a' + 10);
        else if (hex && c >= 'A' && c <= 'F')
          d = static_cast<uint32_t>(c - 'A' + 10);
        else
          return Error("bad character reference");
        cp = cp * (hex ? 16 : 10) + d;
        if (cp > 0x10FFFF) return Error("character reference out of range");
      }
      if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) return Error("invalid character reference");
      AppendUtf8(cp, out);
    } else {
      return Error("unknown entity &" + std::string(ent) + ";");
    }
    pos_ = semi + 1;
    return Status::Ok();
  }
  // Attributes up to '>' or '/>'; their values are checked but not kept (S3 needs none).
  Status Attributes() {
    for (;;) {
      SkipSpace();
      if (AtEnd()) return Error("unterminated start tag");
      if (Peek() == '>' || Peek() == '/') return Status::Ok();
      auto name = Name();
      if (!name.ok()) return name.status();
      SkipSpace();
      if (AtEnd() || Peek() != '=') return Error("expected '=' after attribute name");
      ++pos_;
      SkipSpace();
      if (AtEnd() || (Peek() != '"' && Peek() != '\'')) return Error("expected a quoted value");
      char quote = Peek();
      size_t close = in_.find(quote, pos_ + 1);
      if (close == std::string_view::npos) return Error("unterminated attribute value");
      if (in_.substr(pos_ + 1, close - pos_ - 1).find('<') != std::string_view::npos) {
        return Error("'<' in attribute value");
      }
      pos_ = close + 1;
    }
  }
  // At '<' of a start tag.
  Status Element(XmlElement* el, int depth) {
    if (depth > kMaxDepth) return Error("nesting too deep");
    ++pos_;
    auto qname = Name();
    if (!qname.ok()) return qname.status();
    el->name = LocalName(*qname);
    EDDY_RETURN_IF_ERROR(Attributes());
    if (Peek() == '/') {
      ++pos_;
      if (AtEnd() || Peek() != '>') return Error("expected '>' after '/'");
      ++pos_;
      return Status::Ok();
    }
    ++pos_;  // '>'
    for (;;) {
      if (AtEnd()) return Error("unterminated element <" + *qname + ">");
      char c = Peek();
      if (c == '<') {
        if (StartsWith("</")) {
          pos_ += 2;
          auto end_name = Name();
          if (!end_name.ok()) return end_name.status();
          if (*end_name != *qname) {
            return Error("</" + *end_name + "> does not close <" + *qname + ">");
          }
          SkipSpace();
          if (AtEnd() || Peek() != '>') return Error("expected '>' in end tag");
          ++pos_;
          return Status::Ok();
        }
        if (StartsWith("<!--")) {
          EDDY_RETURN_IF_ERROR(SkipPast("-->", "comment"));
        } else if (StartsWith("<![CDATA[")) {
          size_t start = pos_ + 9;
          EDDY_RETURN_IF_ERROR(SkipPast("]]>", "CDATA section"));
          el->text.append(in_.substr(start, pos_ - 3 - start));
        } else if (StartsWith("<?")) {
          EDDY_RETURN_IF_ERROR(SkipPast("?>", "processing instruction"));
        } else if (StartsWith("<!")) {
          return Error("unexpected markup declaration");
        } else {
          el->children.emplace_back();
          EDDY_RETURN_IF_ERROR(Element(&el->children.back(), depth + 1));
        }
      } else if (c == '&') {
        EDDY_RETURN_IF_ERROR(Entity(&el->text));
      } else {
        el->text.push_back(c);
        ++pos_;
      }
    }
  }

  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace

const XmlElement* XmlElement::Child(std::string_view child_name) const {
  for (const auto& c : children) {
    if (c.name == child_name) return &c;
  }
  return nullptr;
}

const std::string* XmlElement::ChildText(std::string_view child_name) const {
  const XmlElement* c = Child(child_name);
  return c ? &c->text : nullptr;
}

Result<XmlElement> ParseXml(std::string_view body) { return Parser(body).Document(); }

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

}  // namespace eddy::storage
