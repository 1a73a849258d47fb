// JSON text for campaign files: a strict RFC 8259 parser over UTF-8 bytes that rejects what
// PostgreSQL's jsonb rejects, and the compact form that sync stores.

import Foundation

extension JSONValue {
  /// Writes the value as compact JSON: object keys in file order, numbers as written, and
  /// strings with `"`, `\` and control characters escaped and every other character as UTF-8.
  func serialized() -> String {
    var text = ""
    write(to: &text)
    return text
  }

  private func write(to text: inout String) {
    switch self {
    case .null:
      text += "null"
    case .bool(let flag):
      text += flag ? "true" : "false"
    case .number(let literal):
      text += literal
    case .string(let string):
      JSONValue.writeString(string, to: &text)
    case .array(let elements):
      text += "["
      for (index, element) in elements.enumerated() {
        if index > 0 { text += "," }
        element.write(to: &text)
      }
      text += "]"
    case .object(let object):
      text += "{"
      for (index, key) in object.keys.enumerated() {
        if index > 0 { text += "," }
        JSONValue.writeString(key, to: &text)
        text += ":"
        object[key]?.write(to: &text)
      }
      text += "}"
    }
  }

  private static func writeString(_ string: String, to text: inout String) {
    text += "\""
    for scalar in string.unicodeScalars {
      switch scalar {
      case "\"": text += "\\\""
      case "\\": text += "\\\\"
      case "\n": text += "\\n"
      case "\r": text += "\\r"
      case "\t": text += "\\t"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: text.unicodeScalars.append(scalar)
      }
    }
    text += "\""
  }
}

/// An error found while parsing JSON text.
enum JSONParseError: Error {
  /// Text that breaks the RFC 8259 grammar. `column` counts Unicode scalars from 1.
  case syntax(line: Int, column: Int, detail: String)
  /// A byte sequence that is not UTF-8: its first byte, that byte's offset in the file from 0,
  /// and its line and column.
  case invalidUTF8(byte: UInt8, offset: Int, line: Int, column: Int)
  /// Text in another Unicode encoding, such as "UTF-16LE".
  case otherEncoding(String)
  /// A key written twice in one object, as a dotted path from the top level.
  case duplicateKey(path: String)

  /// Converts the error into a CampaignFileError that gives the line and column.
  func campaignFileError(file: String) -> CampaignFileError {
    switch self {
    case .syntax(let line, let column, let detail):
      return CampaignFileError(
        file: file, field: nil, value: nil,
        message: "invalid JSON at line \(line), column \(column) (\(detail))",
        fix: "fix the syntax so that the file holds one JSON object")
    case .invalidUTF8(let byte, let offset, let line, let column):
      let hex = String(byte, radix: 16, uppercase: true)
      let byteText = "0x" + String(repeating: "0", count: 2 - hex.count) + hex
      return CampaignFileError(
        file: file, field: nil, value: nil,
        message: "is not valid UTF-8 text, first invalid byte \(byteText) at byte offset "
          + "\(offset) (line \(line), column \(column))",
        fix: "save the file as UTF-8 text")
    case .otherEncoding(let encoding):
      return CampaignFileError(
        file: file, field: nil, value: nil,
        message: "is encoded as \(encoding), not UTF-8", fix: "save the file as UTF-8")
    case .duplicateKey(let path):
      return CampaignFileError(
        file: file, field: path, value: nil, message: "appears more than once",
        fix: "keep one value for the field")
    }
  }
}

/// A strict parser of RFC 8259 JSON text in UTF-8.
///
/// Trailing commas, comments, leading zeros, unescaped control characters, NaN, lone surrogate
/// escapes and any encoding other than UTF-8 are rejected, as PostgreSQL's jsonb rejects them.
/// A repeated key and nesting deeper than `maxDepth` are rejected too, although jsonb accepts
/// them. The parser accepts two things that jsonb rejects: `\u0000` escapes, which JSONFields
/// rejects after parsing, and numbers beyond the range of PostgreSQL's numeric type, which no
/// campaign field accepts. A UTF-8 byte order mark at the start is skipped.
struct JSONParser {
  /// The maximum nesting depth of arrays and objects. Campaign files need three levels.
  static let maxDepth = 32

  private let bytes: [UInt8]
  private var index = 0
  /// The keys of the objects being read, outermost first, for duplicate-key errors.
  private var path: [String] = []

  private init(bytes: [UInt8]) {
    self.bytes = bytes
  }

  /// Parses `data` as one JSON value.
  static func parse(_ data: Data) throws(JSONParseError) -> JSONValue {
    var bytes = [UInt8](data)
    let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]
    let hasByteOrderMark = bytes.starts(with: byteOrderMark)
    if hasByteOrderMark {
      bytes.removeFirst(byteOrderMark.count)
    }
    if let encoding = otherEncoding(of: bytes) {
      throw .otherEncoding(encoding)
    }
    if let offset = firstInvalidUTF8(in: bytes) {
      let (line, column) = position(of: offset, in: bytes)
      throw .invalidUTF8(
        byte: bytes[offset], offset: offset + (hasByteOrderMark ? byteOrderMark.count : 0),
        line: line, column: column)
    }
    var parser = JSONParser(bytes: bytes)
    parser.skipWhitespace()
    let value = try parser.parseValue(depth: 1)
    parser.skipWhitespace()
    guard parser.index == bytes.count else {
      throw parser.syntaxError("unexpected \(parser.found()) after the JSON value")
    }
    return value
  }

  /// Returns the name of the encoding when `bytes` start like UTF-16 or UTF-32 JSON text: with
  /// its byte order mark, or with the zero bytes of its first two characters. Those characters
  /// are ASCII in JSON text (RFC 4627, section 3), so their other bytes must be JSON whitespace
  /// or printable ASCII, and binary data that starts with a zero byte is not taken for UTF-16.
  static func otherEncoding(of bytes: [UInt8]) -> String? {
    if bytes.starts(with: [0x00, 0x00, 0xFE, 0xFF]) { return "UTF-32BE" }
    if bytes.starts(with: [0xFF, 0xFE, 0x00, 0x00]) { return "UTF-32LE" }
    if bytes.starts(with: [0xFE, 0xFF]) { return "UTF-16BE" }
    if bytes.starts(with: [0xFF, 0xFE]) { return "UTF-16LE" }
    let isZero = bytes.prefix(4).map { $0 == 0x00 }
    let isText = bytes.prefix(4).map(isPlausibleJSONByte)
    if bytes.count >= 4 {
      if isZero[0] && isZero[1] && isZero[2] && isText[3] { return "UTF-32BE" }
      if isText[0] && isZero[1] && isZero[2] && isZero[3] { return "UTF-32LE" }
      if isZero[0] && isText[1] && isZero[2] && isText[3] { return "UTF-16BE" }
      if isText[0] && isZero[1] && isText[2] && isZero[3] { return "UTF-16LE" }
    } else if bytes.count == 2 {
      // One UTF-16 character, such as "{" alone.
      if isZero[0] && isText[1] { return "UTF-16BE" }
      if isText[0] && isZero[1] { return "UTF-16LE" }
    }
    return nil
  }

  /// Returns whether `byte` is JSON whitespace or printable ASCII, as the first characters of
  /// JSON text are.
  private static func isPlausibleJSONByte(_ byte: UInt8) -> Bool {
    [0x09, 0x0A, 0x0D].contains(byte) || (0x20...0x7E).contains(byte)
  }

  /// Returns the byte offset of the first sequence that is not UTF-8, or nil.
  static func firstInvalidUTF8(in bytes: [UInt8]) -> Int? {
    var iterator = bytes.makeIterator()
    var parser = Unicode.UTF8.ForwardParser()
    var offset = 0
    while true {
      switch parser.parseScalar(from: &iterator) {
      case .valid(let encoded):
        offset += encoded.count
      case .emptyInput:
        return nil
      case .error:
        return offset
      }
    }
  }

  /// Returns the line and column of a byte offset, both from 1, counting columns in Unicode
  /// scalars (UTF-8 continuation bytes are skipped).
  static func position(of offset: Int, in bytes: [UInt8]) -> (line: Int, column: Int) {
    var line = 1
    var column = 1
    for byte in bytes.prefix(offset) {
      if byte == UInt8(ascii: "\n") {
        line += 1
        column = 1
      } else if byte & 0xC0 != 0x80 {
        column += 1
      }
    }
    return (line, column)
  }

  // ---------------------------------------------------------------------------------------------

  private mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
    guard index < bytes.count else {
      throw syntaxError("expected a value, found end of file")
    }
    switch bytes[index] {
    case UInt8(ascii: "{"):
      return .object(try parseObject(depth: depth))
    case UInt8(ascii: "["):
      return .array(try parseArray(depth: depth))
    case UInt8(ascii: "\""):
      return .string(try parseString())
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
      return .number(try parseNumber())
    case UInt8(ascii: "t"):
      try parseWord("true")
      return .bool(true)
    case UInt8(ascii: "f"):
      try parseWord("false")
      return .bool(false)
    case UInt8(ascii: "n"):
      try parseWord("null")
      return .null
    default:
      throw syntaxError("expected a value, found \(found())")
    }
  }

  private mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONObject {
    try checkDepth(depth)
    index += 1
    var object = JSONObject()
    var commaOffset = 0
    skipWhitespace()
    if consume("}") { return object }
    while true {
      guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
        if !object.keys.isEmpty && index < bytes.count && bytes[index] == UInt8(ascii: "}") {
          throw syntaxError("trailing comma before '}'", at: commaOffset)
        }
        throw syntaxError("expected a key in double quotes, found \(found())")
      }
      let key = try parseString()
      if object[key] != nil {
        throw .duplicateKey(path: (path + [key]).joined(separator: "."))
      }
      skipWhitespace()
      guard consume(":") else {
        throw syntaxError("expected ':' after a key, found \(found())")
      }
      skipWhitespace()
      path.append(key)
      let value = try parseValue(depth: depth + 1)
      path.removeLast()
      object.keys.append(key)
      object.members[key] = value
      skipWhitespace()
      if consume("}") { return object }
      commaOffset = index
      guard consume(",") else {
        throw syntaxError("expected ',' or '}' after a value, found \(found())")
      }
      skipWhitespace()
    }
  }

  private mutating func parseArray(depth: Int) throws(JSONParseError) -> [JSONValue] {
    try checkDepth(depth)
    index += 1
    var elements: [JSONValue] = []
    var commaOffset = 0
    skipWhitespace()
    if consume("]") { return elements }
    while true {
      if !elements.isEmpty && index < bytes.count && bytes[index] == UInt8(ascii: "]") {
        throw syntaxError("trailing comma before ']'", at: commaOffset)
      }
      elements.append(try parseValue(depth: depth + 1))
      skipWhitespace()
      if consume("]") { return elements }
      commaOffset = index
      guard consume(",") else {
        throw syntaxError("expected ',' or ']' after a value, found \(found())")
      }
      skipWhitespace()
    }
  }

  /// Reads a string starting at its opening quote and returns its text with escapes decoded.
  private mutating func parseString() throws(JSONParseError) -> String {
    index += 1
    var utf8: [UInt8] = []
    while index < bytes.count {
      let byte = bytes[index]
      switch byte {
      case UInt8(ascii: "\""):
        index += 1
        return String(decoding: utf8, as: UTF8.self)
      case UInt8(ascii: "\\"):
        utf8 += try parseEscape()
      case 0x00..<0x20:
        throw syntaxError("unescaped control character \(JSONParser.name(of: UInt32(byte)))")
      default:
        utf8.append(byte)
        index += 1
      }
    }
    throw syntaxError("unterminated string, found end of file")
  }

  /// Reads one escape sequence starting at its backslash and returns its UTF-8 bytes.
  private mutating func parseEscape() throws(JSONParseError) -> [UInt8] {
    let start = index
    index += 1
    guard index < bytes.count else {
      throw syntaxError("unterminated string, found end of file")
    }

    let letter = bytes[index]
    index += 1
    switch letter {
    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): return [letter]
    case UInt8(ascii: "b"): return [0x08]
    case UInt8(ascii: "f"): return [0x0C]
    case UInt8(ascii: "n"): return [0x0A]
    case UInt8(ascii: "r"): return [0x0D]
    case UInt8(ascii: "t"): return [0x09]
    case UInt8(ascii: "u"): break
    default:
      index = start
      throw syntaxError("invalid escape, backslash before \(found(at: start + 1))")
    }

    var code = try parseHex(escapeStart: start)
    if (0xD800..<0xDC00).contains(code) {
      // A high surrogate must be followed by an escaped low surrogate (RFC 8259, section 7).
      let lowStart = index
      var low: UInt32 = 0
      if consume("\\") && consume("u") {
        low = try parseHex(escapeStart: lowStart)
      }
      guard (0xDC00..<0xE000).contains(low) else {
        index = start
        throw syntaxError("unpaired surrogate in a \\u escape")
      }
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
    } else if (0xDC00..<0xE000).contains(code) {
      index = start
      throw syntaxError("unpaired surrogate in a \\u escape")
    }

    guard let scalar = Unicode.Scalar(code) else {
      index = start
      throw syntaxError("invalid \\u escape")
    }
    var utf8: [UInt8] = []
    Unicode.UTF8.encode(scalar) { utf8.append($0) }
    return utf8
  }

  /// Reads the four hex digits of a `\u` escape that began at `escapeStart`.
  private mutating func parseHex(escapeStart: Int) throws(JSONParseError) -> UInt32 {
    var code: UInt32 = 0
    for _ in 0..<4 {
      guard index < bytes.count, let digit = hexDigit(bytes[index]) else {
        index = escapeStart
        throw syntaxError("a \\u escape needs four hex digits")
      }
      code = code << 4 | digit
      index += 1
    }
    return code
  }

  private func hexDigit(_ byte: UInt8) -> UInt32? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
    case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
    default: nil
    }
  }

  /// Reads a number and returns its text: `-`, then `0` or digits without a leading zero, then
  /// an optional fraction and exponent.
  private mutating func parseNumber() throws(JSONParseError) -> String {
    let start = index
    _ = consume("-")
    guard index < bytes.count, isDigit(bytes[index]) else {
      throw syntaxError("expected a digit, found \(found())")
    }
    if consume("0") {
      if index < bytes.count && isDigit(bytes[index]) {
        index = start
        throw syntaxError("number with a leading zero")
      }
    } else {
      skipDigits()
    }
    if consume(".") {
      try requireDigits()
    }
    if consume("e") || consume("E") {
      _ = consume("+") || consume("-")
      try requireDigits()
    }
    return String(decoding: bytes[start..<index], as: UTF8.self)
  }

  private mutating func requireDigits() throws(JSONParseError) {
    guard index < bytes.count, isDigit(bytes[index]) else {
      throw syntaxError("expected a digit, found \(found())")
    }
    skipDigits()
  }

  private mutating func skipDigits() {
    while index < bytes.count && isDigit(bytes[index]) {
      index += 1
    }
  }

  private func isDigit(_ byte: UInt8) -> Bool {
    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
  }

  private mutating func parseWord(_ word: String) throws(JSONParseError) {
    let letters = Array(word.utf8)
    guard bytes[index...].starts(with: letters) else {
      throw syntaxError("expected a value, found \(found())")
    }
    index += letters.count
  }

  private func checkDepth(_ depth: Int) throws(JSONParseError) {
    if depth > JSONParser.maxDepth {
      throw syntaxError("nesting deeper than \(JSONParser.maxDepth) levels")
    }
  }

  private mutating func skipWhitespace() {
    while index < bytes.count && [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) {
      index += 1
    }
  }

  /// Moves past `character` and returns true when it is next.
  private mutating func consume(_ character: Unicode.Scalar) -> Bool {
    guard index < bytes.count, bytes[index] == UInt8(ascii: character) else { return false }
    index += 1
    return true
  }

  /// Describes the character at `offset` for a message: quoted, or "end of file".
  private func found(at offset: Int? = nil) -> String {
    let offset = offset ?? index
    guard offset < bytes.count else { return "end of file" }
    var iterator = bytes[offset...].makeIterator()
    var parser = Unicode.UTF8.ForwardParser()
    guard case .valid(let encoded) = parser.parseScalar(from: &iterator) else {
      return "end of file"
    }
    let scalar = Unicode.UTF8.decode(encoded)
    return scalar.value < 0x20 ? JSONParser.name(of: scalar.value) : "'\(scalar)'"
  }

  /// Returns the Unicode name form of a code point, such as "U+000A".
  private static func name(of code: UInt32) -> String {
    String(format: "U+%04X", code)
  }

  /// Returns a syntax error at `offset`, by default the current position.
  private func syntaxError(_ detail: String, at offset: Int? = nil) -> JSONParseError {
    let (line, column) = JSONParser.position(of: offset ?? index, in: bytes)
    return .syntax(line: line, column: column, detail: detail)
  }
}
