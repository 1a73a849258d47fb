// Command-line argument parsing for the adpilot tool: `--name value`, `--name=value`, boolean
// flags and positionals, checked against what each command declares. It never reads the
// environment and never exits; callers turn UsageError into exit code 2.

/// An error in how a command was invoked, printed with the command's usage line.
struct UsageError: Error, CustomStringConvertible {
  var message: String
  var description: String { message }
}

/// Decodes raw command-line arguments as UTF-8, or throws for the first one that is not valid
/// UTF-8.
///
/// `CommandLine.arguments` replaces such bytes with U+FFFD, which would silently change a scoring
/// query, a data set name or a promotion reason (a Latin-1 terminal's `josé` would match nothing).
func decodeArguments(_ raw: [[UInt8]]) throws(UsageError) -> [String] {
  var arguments: [String] = []
  for (index, bytes) in raw.enumerated() {
    guard let text = String(validating: bytes, as: UTF8.self) else {
      let repaired = String(decoding: bytes, as: UTF8.self)
      let offset = invalidUTF8Offset(bytes)
      let byte = String(bytes[offset], radix: 16, uppercase: true)
      throw UsageError(
        message: "argument \(index + 1) ('\(repaired)') is not valid UTF-8: byte 0x\(byte) at "
          + "byte offset \(offset); pass UTF-8 text, for example from a terminal with a UTF-8 "
          + "locale")
    }
    arguments.append(text)
  }
  return arguments
}

/// Returns the offset of the first byte of `bytes` that does not start or continue a valid
/// UTF-8 sequence. The caller has checked that there is one.
private func invalidUTF8Offset(_ bytes: [UInt8]) -> Int {
  var offset = 0
  while offset < bytes.count {
    var length = 1
    while length <= 4 && offset + length <= bytes.count {
      if String(validating: bytes[offset..<(offset + length)], as: UTF8.self) != nil { break }
      length += 1
    }
    guard length <= 4 && offset + length <= bytes.count else { return offset }
    offset += length
  }
  return bytes.count - 1
}

/// An option a command accepts.
struct OptionSpec: Sendable {
  /// The long name without dashes, e.g. `date` for `--date`.
  var name: String
  /// A short placeholder for the value in help text; nil marks a boolean flag.
  var valueName: String?
  /// One line of help: what the option sets, with its unit and default.
  var help: String

  static func flag(_ name: String, _ help: String) -> OptionSpec {
    OptionSpec(name: name, valueName: nil, help: help)
  }

  static func value(_ name: String, _ valueName: String, _ help: String) -> OptionSpec {
    OptionSpec(name: name, valueName: valueName, help: help)
  }
}

/// The parsed arguments of one command.
struct ParsedArguments {
  var positionals: [String] = []
  var values: [String: String] = [:]
  var flags: Set<String> = []

  /// Returns the value of `--name`, or nil when absent.
  func value(_ name: String) -> String? { values[name] }

  /// Returns whether the flag `--name` was given.
  func flag(_ name: String) -> Bool { flags.contains(name) }

  /// Returns `--name` parsed as an integer, `defaultValue` when absent.
  func int(_ name: String, default defaultValue: Int) throws -> Int {
    guard let text = values[name] else { return defaultValue }
    guard let number = Int(text) else {
      throw UsageError(
        message: "invalid value for --\(name): '\(text)' is not an integer in 64-bit range")
    }
    return number
  }

  /// Returns `--name` parsed as a 64-bit integer, or nil when absent.
  func int64(_ name: String) throws -> Int64? {
    guard let text = values[name] else { return nil }
    guard let number = Int64(text) else {
      throw UsageError(
        message: "invalid value for --\(name): '\(text)' is not an integer in 64-bit range")
    }
    return number
  }

  /// Returns `--name` parsed as an unsigned 64-bit integer, `defaultValue` when absent.
  func uint64(_ name: String, default defaultValue: UInt64) throws -> UInt64 {
    guard let text = values[name] else { return defaultValue }
    guard let number = UInt64(text) else {
      throw UsageError(
        message: "invalid value for --\(name): '\(text)' is not an integer from 0 to "
          + "\(UInt64.max)")
    }
    return number
  }

  /// Returns `--name` parsed as a floating-point number, `defaultValue` when absent.
  func double(_ name: String, default defaultValue: Double) throws -> Double {
    guard let text = values[name] else { return defaultValue }
    // Decimal notation only: Double(String) also reads hexadecimal floats, nan and inf.
    let decimal = text.unicodeScalars.allSatisfy { "0123456789+-.eE".unicodeScalars.contains($0) }
    guard decimal, let number = Double(text), number.isFinite else {
      throw UsageError(
        message: "invalid value for --\(name): '\(text)' is not a finite decimal number")
    }
    let mantissa = text.prefix { $0 != "e" && $0 != "E" }
    guard number != 0 || !mantissa.contains(where: { ("1"..."9").contains($0) }) else {
      throw UsageError(
        message: "invalid value for --\(name): '\(text)' is too close to 0 for a 64-bit float; "
          + "use 0 or a magnitude above 1e-300")
    }
    return number
  }

  /// Returns `--option` as a data set or model name, nil when absent: 1 to 63 letters, digits,
  /// '_', '-' or '.', starting with a letter or digit, so that names print in tables and never
  /// need quoting. A leading '-' would read as an option in a model id, and campaign sync skips
  /// folders whose names start with '.'.
  func name(_ option: String) throws -> String? {
    guard let text = values[option] else { return nil }
    func isLetterOrDigit(_ scalar: Unicode.Scalar) -> Bool {
      scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar))
    }
    let allowed = text.unicodeScalars.allSatisfy {
      isLetterOrDigit($0) || "_-.".unicodeScalars.contains($0)
    }
    guard (1...63).contains(text.count), allowed,
      let first = text.unicodeScalars.first, isLetterOrDigit(first)
    else {
      throw UsageError(
        message:
          "invalid value for --\(option): '\(text)'; use 1 to 63 letters, digits, '_', '-' "
          + "or '.', starting with a letter or digit")
    }
    return text
  }

  /// Returns `--name` parsed as a number that a 32-bit float represents at full precision, as a
  /// Double: 0 or a normal float, never one that turns into infinity or a subnormal, which is
  /// slow to compute with; `defaultValue` when absent.
  func float(_ name: String, default defaultValue: Double) throws -> Double {
    let number = try double(name, default: defaultValue)
    guard Float(number).isNormal || number == 0 else {
      throw UsageError(
        message:
          "invalid value for --\(name): '\(values[name] ?? "")' is outside the range of a 32-bit "
          + "float (magnitudes from about 1.2e-38 to 3.4e38, or 0)")
    }
    return number
  }
}

/// Parses `arguments` against `options`, accepting at most `maxPositionals` positionals.
func parseArguments(
  _ arguments: [String], options: [OptionSpec], maxPositionals: Int = 0
) throws -> ParsedArguments {
  let specs = Dictionary(options.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
  var parsed = ParsedArguments()
  var index = 0
  var onlyPositionals = false
  while index < arguments.count {
    let argument = arguments[index]
    index += 1
    if onlyPositionals || !argument.hasPrefix("--") || argument == "-" {
      parsed.positionals.append(argument)
      continue
    }
    if argument == "--" {
      onlyPositionals = true
      continue
    }

    let body = argument.dropFirst(2)
    let name: String
    var inlineValue: String?
    if let equals = body.firstIndex(of: "=") {
      name = String(body[..<equals])
      inlineValue = String(body[body.index(after: equals)...])
    } else {
      name = String(body)
    }
    guard let spec = specs[name] else {
      let known = options.map { "--\($0.name)" }.sorted().joined(separator: ", ")
      throw UsageError(
        message: "unknown option '--\(name)'; valid options: \(known.isEmpty ? "none" : known)")
    }

    guard !parsed.flags.contains(name) && parsed.values[name] == nil else {
      throw UsageError(message: "option --\(name) is given twice; keep one")
    }
    if spec.valueName == nil {
      guard inlineValue == nil else {
        throw UsageError(message: "option --\(name) is a flag and takes no value")
      }
      parsed.flags.insert(name)
    } else if let inlineValue {
      parsed.values[name] = inlineValue
    } else {
      // A value that looks like an option is almost always a forgotten value. --name=--text
      // still passes one. Option names contain no whitespace, so text such as an SQL query that
      // starts with a `--` comment line is taken as a value.
      guard index < arguments.count,
        !arguments[index].hasPrefix("--")
          || arguments[index].contains(where: { $0.isWhitespace })
      else {
        throw UsageError(message: "missing value for --\(name) (expected \(spec.valueName ?? ""))")
      }
      parsed.values[name] = arguments[index]
      index += 1
    }
  }
  if parsed.positionals.count > maxPositionals {
    // Each is quoted on its own, so that two arguments never read as one with a space.
    let extra = parsed.positionals[maxPositionals...].map { "'\($0)'" }
    let noun = extra.count == 1 ? "argument" : "arguments"
    throw UsageError(message: "unexpected \(noun) \(extra.joined(separator: ", "))")
  }
  return parsed
}
