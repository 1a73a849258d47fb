// The command table of the adpilot tool and its top-level error handling. Each command parses
// its own options and runs one job; this file owns help text and exit codes.

import AdPilot
import Foundation
import Postgres

/// A subcommand of the tool.
struct Command: Sendable {
  var name: String
  var summary: String
  var usage: String
  var options: [OptionSpec]
  var maxPositionals = 0
  var run: @Sendable (ParsedArguments, Context) throws -> Void
}

/// The environment, logger and standard output shared by every command.
final class Context {
  let environment: [String: String]
  let logger: Logger
  private(set) var output = ""
  let echo: Bool

  init(environment: [String: String], logger: Logger, echo: Bool = true) {
    self.environment = environment
    self.logger = logger
    self.echo = echo
  }

  /// Writes one line of the command's result to standard output.
  func print(_ line: String = "") {
    output += line + "\n"
    if echo { Swift.print(line) }
  }

  /// Opens a connection to the configured database, starting the embedded one when none is set.
  func connect(migrating: Bool = true) throws -> Connection {
    try DatabaseLocator.connect(environment: environment, migrating: migrating)
  }
}

enum Tool {
  static let commands: [Command] =
    databaseCommands + importCommands + [
      generateCommand, campaignsCommand, trainCommand, modelsCommand, allocateCommand,
      explainCommand, backtestCommand,
      requestsCommand, scoreCommand, workerCommand, summaryCommand, benchCommand,
    ]

  /// Runs the tool with `arguments` and returns the process exit code.
  static func main(
    _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment
  )
    -> Int32
  {
    let (verboseCount, rest) = removingVerbose(arguments)
    let logger = Logger(minimumLevel: verboseCount > 0 ? .debug : .info)
    guard verboseCount <= 1 else {
      FileHandle.standardError.write(
        Data("error: option --verbose is given twice; keep one\n".utf8))
      return 2
    }
    let requestedHelp: String?
    do {
      requestedHelp = try helpText(rest)
    } catch {
      FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
      return 2
    }
    if let text = requestedHelp {
      Swift.print(text)
      return rest.isEmpty ? 2 : 0
    }
    let name = rest[0]
    guard let command = commands.first(where: { $0.name == name }) else {
      FileHandle.standardError.write(
        Data("error: unknown command '\(name)'; run `adpilot --help` for the list\n".utf8))
      return 2
    }
    let context = Context(environment: environment, logger: logger)
    do {
      let parsed = try parseArguments(
        Array(rest.dropFirst()), options: command.options, maxPositionals: command.maxPositionals)
      try command.run(parsed, context)
      return 0
    } catch let status as ExitStatus {
      return status.code
    } catch let error as UsageError {
      FileHandle.standardError.write(
        Data("error: \(error.message)\nusage: adpilot \(command.usage)\n".utf8))
      return 2
    } catch {
      FileHandle.standardError.write(Data("error: \(error)\n".utf8))
      return 1
    }
  }

  /// Returns how many times `--verbose` appears before any `--`, and the arguments without
  /// those. After `--` it is left in place as a positional, such as a file named `--verbose`.
  static func removingVerbose(_ arguments: [String]) -> (count: Int, rest: [String]) {
    let end = arguments.firstIndex(of: "--") ?? arguments.endIndex
    let options = arguments[..<end]
    let rest = options.filter { $0 != "--verbose" } + arguments[end...]
    return (options.count { $0 == "--verbose" }, rest)
  }

  /// Returns the help that `arguments` (without `--verbose`) ask for, nil when they ask for
  /// none: the list of commands for no arguments, `--help`, `-h` or `help`, and one command's
  /// options for `help COMMAND` or a command followed by `--help` or `-h` in the place of an
  /// option or positional. Throws for `help` followed by anything but one command's name.
  static func helpText(_ arguments: [String]) throws(UsageError) -> String? {
    guard let first = arguments.first else { return help() }
    if first == "help", arguments.count > 1 {
      guard arguments.count == 2 else {
        let extra = arguments.dropFirst(2).map { "'\($0)'" }.joined(separator: ", ")
        throw UsageError(message: "help takes one command; unexpected \(extra)")
      }
      guard let command = commands.first(where: { $0.name == arguments[1] }) else {
        throw UsageError(
          message: "unknown command '\(arguments[1])'; run `adpilot --help` for the list")
      }
      return commandHelp(command)
    }
    if ["--help", "-h", "help"].contains(first) { return help() }
    guard let command = commands.first(where: { $0.name == first }),
      requestsHelp(Array(arguments.dropFirst()), options: command.options)
    else { return nil }
    return commandHelp(command)
  }

  /// Returns whether `--help` or `-h` is where the parser would read an option or a
  /// positional. The value of an option (`--reason -h`) and anything after `--` are not
  /// requests for help, so the command runs with them.
  private static func requestsHelp(_ arguments: [String], options: [OptionSpec]) -> Bool {
    var index = 0
    while index < arguments.count {
      let argument = arguments[index]
      index += 1
      if argument == "--help" || argument == "-h" { return true }
      if argument == "--" { return false }
      guard argument.hasPrefix("--"), !argument.contains("=") else { continue }
      let name = String(argument.dropFirst(2))
      guard options.contains(where: { $0.name == name && $0.valueName != nil }),
        index < arguments.count
      else { continue }
      // The parser takes the next argument as the value unless it looks like an option.
      let next = arguments[index]
      if !next.hasPrefix("--") || next.contains(where: { $0.isWhitespace }) { index += 1 }
    }
    return false
  }

  static func help() -> String {
    var text = """
      adpilot: CTR training from PostgreSQL logs, budget allocation and pacing, request scoring.

      usage: adpilot <command> [options]   (add --help after a command for its options)

      commands:

      """
    for command in commands {
      text += "  " + command.name.padding(toLength: 12, withPad: " ", startingAt: 0)
      text += command.summary + "\n"
    }
    text += """

      The database comes from DATABASE_URL or the PG* variables; with neither set, adpilot
      starts its own embedded PostgreSQL (see `adpilot db`). --verbose logs debug lines.
      """
    return text
  }

  static func commandHelp(_ command: Command) -> String {
    var text = "usage: adpilot \(command.usage)\n\n\(command.summary)\n"
    if !command.options.isEmpty {
      text += "\noptions:\n"
      for option in command.options {
        let left = "--\(option.name)" + (option.valueName.map { " \($0)" } ?? "")
        text += "  " + left.padding(toLength: 28, withPad: " ", startingAt: 0) + option.help + "\n"
      }
    }
    return text
  }
}

/// A command's request to exit with a specific status after printing its result.
struct ExitStatus: Error {
  var code: Int32
}

/// Returns the value of a required option or throws a usage error naming it.
func required(_ parsed: ParsedArguments, _ name: String) throws -> String {
  guard let value = parsed.value(name) else {
    throw UsageError(message: "missing required option --\(name)")
  }
  guard !value.isEmpty else {
    throw UsageError(message: "invalid value for --\(name): the value is empty")
  }
  return value
}

/// Formats an expected amount in micros like ``money(_:)``; amounts outside Int64 print in
/// scientific notation instead of trapping.
func money(approximately micros: Double) -> String {
  let rounded = micros.rounded()
  guard rounded.isFinite, abs(rounded) < 9.2e18 else {
    return String(format: "%.3e", micros / 1_000_000)
  }
  return money(Int64(rounded))
}

/// Formats micros as a decimal amount with two places, for tables.
func money(_ micros: Int64) -> String {
  let magnitude = micros.magnitude
  // Rounded to the nearest cent, halves away from zero.
  let hundredths = (magnitude + 5_000) / 10_000
  let sign = micros < 0 && hundredths > 0 ? "-" : ""
  let units = hundredths / 100
  let cents = hundredths % 100
  return "\(sign)\(units).\(cents < 10 ? "0" : "")\(cents)"
}

/// Returns `count` and `noun`, with an "s" unless `count` is 1: "1 campaign", "3 campaigns".
func counted(_ count: Int, _ noun: String) -> String {
  "\(count) \(noun)\(count == 1 ? "" : "s")"
}

/// Pads `text` on the left to `width` characters.
func leftPad(_ text: String, _ width: Int) -> String {
  text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

/// Pads `text` on the right to `width` characters.
func rightPad(_ text: String, _ width: Int) -> String {
  // A value as wide as its column or wider still gets one space, so it stays apart from the
  // next column.
  text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}
