// A reader of one campaign file object's fields that turns each type mismatch into a
// CampaignFileError. It checks JSON types only; CampaignFile states the rules for values, and
// JSONParser reads the text.

import Foundation

/// A parsed JSON value. A number keeps its text as written, so that messages echo it unchanged
/// and integers of any length are read exactly.
indirect enum JSONValue {
  case null
  case bool(Bool)
  case number(String)
  case string(String)
  case array([JSONValue])
  case object(JSONObject)
}

/// The members of a JSON object and their keys in file order. Each key appears once, because the
/// parser rejects a repeated key.
struct JSONObject {
  var keys: [String] = []
  var members: [String: JSONValue] = [:]

  subscript(key: String) -> JSONValue? { members[key] }
}

/// A reader of the fields of one JSON object from a named file.
struct JSONFields {
  var file: String
  var object: JSONObject

  /// Parses `data` as one JSON object in UTF-8 (a leading byte order mark is skipped).
  ///
  /// Syntax errors give their line and column. A key written twice, a string containing U+0000
  /// (PostgreSQL text cannot store it) and a top level other than an object are rejected too.
  init(data: Data, file: String) throws(CampaignFileError) {
    self.file = file
    let parsed: JSONValue
    do {
      parsed = try JSONParser.parse(data)
    } catch {
      throw error.campaignFileError(file: file)
    }
    guard case .object(let object) = parsed else {
      throw CampaignFileError(
        file: file, field: nil, value: JSONFields.render(parsed),
        message: "top level must be a JSON object", fix: "write the file as one {...} object")
    }
    if let (path, string) = JSONFields.firstStringWithNUL(in: parsed, path: []) {
      throw CampaignFileError(
        file: file, field: path.isEmpty ? nil : path, value: CampaignFileError.quoted(string),
        message: "contains the character U+0000, which PostgreSQL text cannot store",
        fix: "remove the \\u0000 escape")
    }
    self.object = object
  }

  /// Returns the first key or string value that contains U+0000, with the dotted path of its
  /// field (for a key, the path of the object that contains it).
  static func firstStringWithNUL(in value: JSONValue, path: [String]) -> (String, String)? {
    switch value {
    case .string(let string):
      return string.unicodeScalars.contains("\0") ? (path.joined(separator: "."), string) : nil
    case .array(let elements):
      for element in elements {
        if let found = firstStringWithNUL(in: element, path: path) { return found }
      }
    case .object(let object):
      for key in object.keys {
        if key.unicodeScalars.contains("\0") {
          return (path.joined(separator: "."), key)
        }
        if let member = object[key], let found = firstStringWithNUL(in: member, path: path + [key])
        {
          return found
        }
      }
    case .null, .bool, .number:
      break
    }
    return nil
  }

  /// Renders a parsed JSON value for an error message: strings quoted, numbers as written (their
  /// first 32 characters and their length beyond `CampaignFileError.maxQuotedLength`), and
  /// arrays and objects as compact JSON up to that length.
  static func render(_ value: JSONValue) -> String {
    switch value {
    case .null:
      return "null"
    case .bool(let flag):
      return flag ? "true" : "false"
    case .number(let text):
      guard text.count > CampaignFileError.maxQuotedLength else { return text }
      return "\(text.prefix(32))... (\(text.count) characters)"
    case .string(let string):
      return CampaignFileError.quoted(string)
    case .array, .object:
      let text = value.serialized()
      if text.unicodeScalars.count <= CampaignFileError.maxQuotedLength {
        return text
      }
      if case .array = value {
        return "an array"
      }
      return "an object"
    }
  }

  /// Rejects every key outside `known`, naming the first unknown key in sorted order.
  func rejectUnknownKeys(_ known: [String], kind: String) throws(CampaignFileError) {
    let knownSet = Set(known)
    if let unknown = object.keys.sorted().first(where: { !knownSet.contains($0) }) {
      throw CampaignFileError(
        file: file, field: unknown, value: nil, message: "is not a \(kind) field",
        fix: "remove it or correct its spelling; known fields: \(known.joined(separator: ", "))")
    }
  }

  /// Rejects a missing key.
  func require(_ key: String, as type: String) throws(CampaignFileError) {
    if object[key] == nil {
      throw CampaignFileError(
        file: file, field: key, value: nil, message: "is missing", fix: "add it as \(type)")
    }
  }

  /// Returns whether the key is absent or JSON null.
  func isAbsentOrNull(_ key: String) -> Bool {
    switch object[key] {
    case nil, .null: true
    default: false
    }
  }

  /// Reads a string, or `fallback` when the key is absent.
  func string(_ key: String, fallback: String = "") throws(CampaignFileError) -> String {
    guard let value = object[key] else { return fallback }
    guard case .string(let string) = value else {
      throw typeError(key, value, expected: "a string", fix: "write the value in double quotes")
    }
    return string
  }

  /// Reads a string that may be null or absent.
  func optionalString(_ key: String) throws(CampaignFileError) -> String? {
    isAbsentOrNull(key) ? nil : try string(key)
  }

  /// Converts a JSON integer literal to Int64. Fractions, exponents, strings, booleans and null
  /// are rejected.
  ///
  /// A literal beyond the Int64 range becomes `Int64.min` or `Int64.max`. Every caller checks a
  /// range inside Int64 and echoes the literal, so such a value fails with the right bound named.
  static func integer(_ value: JSONValue, file: String, field: String) throws(CampaignFileError)
    -> Int64
  {
    guard case .number(let text) = value, !text.contains(where: { ".eE".contains($0) }) else {
      throw CampaignFileError(
        file: file, field: field, value: render(value), message: "must be an integer",
        fix: "write a whole number without quotes, decimal point or exponent")
    }
    if let integer = Int64(text) {
      return integer
    }
    return text.hasPrefix("-") ? .min : .max
  }

  /// Returns the error for a value of the wrong JSON type.
  func typeError(_ key: String, _ value: JSONValue, expected: String, fix: String)
    -> CampaignFileError
  {
    CampaignFileError(
      file: file, field: key, value: JSONFields.render(value), message: "must be \(expected)",
      fix: fix)
  }
}
