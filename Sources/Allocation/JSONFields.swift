// A strict reader of one JSON object's fields, turning each type mismatch into a CampaignFileError.
// It checks JSON types only; CampaignFile states the rules for values.

import Foundation

/// A reader of the fields of one JSON object from a named file.
struct JSONFields {
  var file: String
  var object: [String: Any]

  /// Parses `data` as one JSON object, reporting the position of a syntax error when Foundation
  /// gives one.
  init(data: Data, file: String) throws(CampaignFileError) {
    self.file = file
    let parsed: Any
    do {
      parsed = try JSONSerialization.jsonObject(with: data, options: [])
    } catch {
      throw CampaignFileError(
        file: file, field: nil, value: nil,
        message: "invalid JSON" + JSONFields.position(of: error, in: data),
        fix: "fix the syntax so that the file holds one JSON object")
    }
    if let path = JSONFields.duplicateKey(in: data) {
      throw CampaignFileError(
        file: file, field: path, value: nil, message: "appears more than once",
        fix: "keep one value for the field")
    }
    guard let object = parsed as? [String: Any] else {
      throw CampaignFileError(
        file: file, field: nil, value: JSONFields.render(parsed),
        message: "top level must be a JSON object", fix: "write the file as one {...} object")
    }
    self.object = object
  }

  /// Returns the dotted path of the first key that appears twice in one object, or nil.
  ///
  /// JSONSerialization keeps only one value of a repeated key, so this scan over the bytes finds
  /// them. It runs after JSONSerialization accepted the data, so it assumes valid JSON. Keys are
  /// compared as written, so "a" and "\u0061" count as different keys.
  static func duplicateKey(in data: Data) -> String? {
    // One frame per open object or array: the keys seen so far, the key being read, and
    // whether the next string in an object is a key.
    struct Frame {
      var isObject: Bool
      var keys: Set<String> = []
      var currentKey = ""
      var expectsKey: Bool
    }
    var stack: [Frame] = []
    let bytes = [UInt8](data)
    var index = 0
    while index < bytes.count {
      let byte = bytes[index]
      switch byte {
      case UInt8(ascii: "{"):
        stack.append(Frame(isObject: true, expectsKey: true))
      case UInt8(ascii: "["):
        stack.append(Frame(isObject: false, expectsKey: false))
      case UInt8(ascii: "}"), UInt8(ascii: "]"):
        _ = stack.popLast()
      case UInt8(ascii: ","):
        if let last = stack.indices.last, stack[last].isObject {
          stack[last].expectsKey = true
        }
      case UInt8(ascii: "\""):
        let start = index + 1
        index = start
        while index < bytes.count && bytes[index] != UInt8(ascii: "\"") {
          index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
        }
        if let last = stack.indices.last, stack[last].isObject, stack[last].expectsKey {
          let key = String(decoding: bytes[start..<min(index, bytes.count)], as: UTF8.self)
          stack[last].expectsKey = false
          stack[last].currentKey = key
          if !stack[last].keys.insert(key).inserted {
            return stack.filter(\.isObject).map(\.currentKey).joined(separator: ".")
          }
        }
      default:
        break
      }
      index += 1
    }
    return nil
  }

  /// Returns " at line L, column C (detail)" from Foundation's "around character N" message, or
  /// the bare detail when it names no position.
  static func position(of error: Error, in data: Data) -> String {
    let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? ""
    guard let range = detail.range(of: "character "),
      let offset = Int(detail[range.upperBound...].prefix { $0.isNumber })
    else {
      return detail.isEmpty ? "" : " (\(detail))"
    }
    var line = 1
    var column = 1
    for byte in data.prefix(offset) {
      if byte == UInt8(ascii: "\n") {
        line += 1
        column = 1
      } else {
        column += 1
      }
    }
    return " at line \(line), column \(column) (\(detail))"
  }

  /// Renders a parsed JSON value for an error message: strings quoted, numbers as written.
  static func render(_ value: Any?) -> String {
    switch value {
    case nil, is NSNull:
      return "null"
    case let string as String:
      return "\"\(string)\""
    case let number as NSNumber:
      if isBool(number) {
        return number.boolValue ? "true" : "false"
      }
      return number.description
    case is [Any]:
      return "an array"
    case is [String: Any]:
      return "an object"
    default:
      return String(describing: value)
    }
  }

  /// Returns whether JSONSerialization produced the number from `true` or `false`: a boolean
  /// NSNumber has the Objective-C type code "c" or a class named like __NSCFBoolean.
  static func isBool(_ number: NSNumber) -> Bool {
    String(cString: number.objCType) == "c"
      || String(describing: type(of: number)).contains("Boolean")
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
    object[key] == nil || object[key] is NSNull
  }

  /// Reads a string, or `fallback` when the key is absent.
  func string(_ key: String, fallback: String = "") throws(CampaignFileError) -> String {
    guard let value = object[key] else { return fallback }
    guard let string = value as? String else {
      throw typeError(key, value, expected: "a string", fix: "write the value in double quotes")
    }
    return string
  }

  /// Reads a string that may be null or absent.
  func optionalString(_ key: String) throws(CampaignFileError) -> String? {
    isAbsentOrNull(key) ? nil : try string(key)
  }

  /// Reads a JSON integer that fits in Int64; floats, strings and booleans are rejected.
  func int64(_ key: String, fallback: Int64 = 0) throws(CampaignFileError) -> Int64 {
    guard let value = object[key] else { return fallback }
    return try JSONFields.int64(value, file: file, field: key)
  }

  /// Reads an Int64 that may be null or absent.
  func optionalInt64(_ key: String) throws(CampaignFileError) -> Int64? {
    isAbsentOrNull(key) ? nil : try int64(key)
  }

  /// Converts a parsed JSON value to Int64, accepting only integer literals.
  static func int64(_ value: Any, file: String, field: String) throws(CampaignFileError) -> Int64 {
    let fix = "write a whole number without quotes or decimal point"
    guard let number = value as? NSNumber, !(value is String), !isBool(number) else {
      throw CampaignFileError(
        file: file, field: field, value: render(value), message: "must be an integer", fix: fix)
    }
    if number is NSDecimalNumber {
      throw CampaignFileError(
        file: file, field: field, value: render(value),
        message: "is out of range for a 64-bit integer",
        fix: "use a value between \(Int64.min) and \(Int64.max)")
    }
    switch String(cString: number.objCType) {
    case "s", "i", "l", "q":
      return number.int64Value
    case "C", "S", "I", "L", "Q":
      guard number.uint64Value <= UInt64(Int64.max) else {
        throw CampaignFileError(
          file: file, field: field, value: render(value),
          message: "is out of range for a 64-bit integer",
          fix: "use a value between \(Int64.min) and \(Int64.max)")
      }
      return number.int64Value
    default:
      throw CampaignFileError(
        file: file, field: field, value: render(value), message: "must be an integer", fix: fix)
    }
  }

  /// Returns the error for a value of the wrong JSON type.
  func typeError(_ key: String, _ value: Any, expected: String, fix: String) -> CampaignFileError {
    CampaignFileError(
      file: file, field: key, value: JSONFields.render(value), message: "must be \(expected)",
      fix: fix)
  }
}
