// Connection settings: a libpq connection string or URL plus a password-free description of it.
// Errors and logs show the description. This module never prints the connection string itself.

import CLibPQ
import Foundation

/// A libpq connection string (`postgresql://...` or `key=value ...`) and a printable target.
public struct ConnectionConfig: Sendable {
  /// The full connection string or URL passed to PQconnectdb. It may contain a password.
  public var url: String
  /// The server in words, such as `socket /tmp/x:5432 database adpilot`, never with a password.
  public var displayTarget: String

  /// Creates a configuration from a connection string or URL. An empty string lets libpq take
  /// everything from the `PG*` environment variables and its defaults.
  public init(url: String) {
    self.url = url
    guard let options = ConnectionConfig.parse(url) else {
      self.displayTarget = "invalid connection string (not shown because it may hold a password)"
      return
    }
    self.displayTarget = ConnectionConfig.describe(
      host: options["host"] ?? options["hostaddr"], port: options["port"],
      database: options["dbname"], user: options["user"])
  }

  init(url: String, displayTarget: String) {
    self.url = url
    self.displayTarget = displayTarget
  }

  /// Returns the configuration to use from environment variables: `DATABASE_URL` if set, else
  /// libpq's own variables (`PGHOST`, `PGHOSTADDR`, `PGPORT`, `PGDATABASE`, `PGUSER`,
  /// `PGSERVICE`) through an empty connection string, else nil. libpq reads those variables from
  /// the process environment, so `environment` should be that environment.
  public static func fromEnvironment(_ environment: [String: String]) -> ConnectionConfig? {
    if let url = environment["DATABASE_URL"], !url.isEmpty {
      return ConnectionConfig(url: url)
    }
    let libpqVariables = ["PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"]
    guard libpqVariables.contains(where: { !(environment[$0] ?? "").isEmpty }) else { return nil }
    let target = describe(
      host: environment["PGHOST"] ?? environment["PGHOSTADDR"], port: environment["PGPORT"],
      database: environment["PGDATABASE"] ?? environment["PGSERVICE"].map { "service \($0)" },
      user: environment["PGUSER"])
    return ConnectionConfig(url: "", displayTarget: target)
  }

  /// Returns a configuration for a server listening on a Unix socket in `directory`.
  public static func unixSocket(
    directory: String, port: Int = 5432, database: String, user: String? = nil
  ) -> ConnectionConfig {
    var options = [("host", directory), ("port", String(port)), ("dbname", database)]
    if let user { options.append(("user", user)) }
    return ConnectionConfig(url: keywordValueString(options))
  }

  /// Returns the same server and credentials with another database name. The result is a
  /// `key=value` connection string; options the original left out still come from the
  /// environment.
  public func replacingDatabase(_ database: String) -> ConnectionConfig {
    let options = ConnectionConfig.parseOrdered(url) ?? []
    var replaced = options.filter { $0.0 != "dbname" }
    replaced.append(("dbname", database))
    var config = ConnectionConfig(url: ConnectionConfig.keywordValueString(replaced))
    if url.isEmpty {
      config.displayTarget = displayTarget.replacingDatabase(with: database)
    }
    return config
  }

  /// Replaces the password of `url`, wherever it appears in `text`, with `***`. For a URL that
  /// libpq cannot parse, the raw text between `user:` and `@` counts as the password.
  func redacted(_ text: String) -> String {
    var passwords: [String] = []
    if let parsed = ConnectionConfig.parse(url)?["password"] { passwords.append(parsed) }
    if let raw = ConnectionConfig.rawURLPassword(url) {
      passwords.append(raw)
      passwords.append(raw.removingPercentEncoding ?? raw)
    }
    var result = text
    for password in passwords where !password.isEmpty {
      result = result.replacingAll(password, with: "***")
    }
    return result
  }

  /// Returns the password part of a `scheme://user:password@host...` URL without decoding it.
  static func rawURLPassword(_ url: String) -> String? {
    guard let schemeEnd = url.range(of: "://") else { return nil }
    let afterScheme = url[schemeEnd.upperBound...]
    let authority = afterScheme.prefix { $0 != "/" && $0 != "?" }
    guard let at = authority.lastIndex(of: "@") else { return nil }
    let userInfo = authority[..<at]
    guard let colon = userInfo.firstIndex(of: ":") else { return nil }
    return String(userInfo[userInfo.index(after: colon)...])
  }
}

extension ConnectionConfig {
  /// Parses a connection string or URL with libpq's own parser; nil if it is malformed.
  static func parse(_ url: String) -> [String: String]? {
    guard let options = parseOrdered(url) else { return nil }
    return Dictionary(options, uniquingKeysWith: { _, last in last })
  }

  static func parseOrdered(_ url: String) -> [(String, String)]? {
    var errorMessage: UnsafeMutablePointer<CChar>?
    guard let options = PQconninfoParse(url, &errorMessage) else {
      if let errorMessage { PQfreemem(errorMessage) }
      return nil
    }
    defer { PQconninfoFree(options) }
    var result: [(String, String)] = []
    var option = options
    while let keyword = option.pointee.keyword {
      if let value = option.pointee.val {
        result.append((String(cString: keyword), String(cString: value)))
      }
      option += 1
    }
    return result
  }

  /// Formats options as `key='value' ...`, escaping quotes and backslashes as libpq requires.
  static func keywordValueString(_ options: [(String, String)]) -> String {
    options.map { key, value in
      var quoted = "'"
      for character in value {
        if character == "'" || character == "\\" { quoted.append("\\") }
        quoted.append(character)
      }
      return "\(key)=\(quoted)'"
    }.joined(separator: " ")
  }

  /// Describes a server as `socket <dir>:<port> database <db>` or `host <host>:<port> ...`.
  static func describe(host: String?, port: String?, database: String?, user: String?) -> String {
    let port = port.flatMap { $0.isEmpty ? nil : $0 } ?? "5432"
    let place: String
    if let host, !host.isEmpty {
      place =
        host.hasPrefix("/") || host.hasPrefix("@")
        ? "socket \(host):\(port)" : "host \(host):\(port)"
    } else {
      place = "default socket:\(port)"
    }
    var text = "\(place) database \(database ?? user ?? "(default)")"
    if let user, !user.isEmpty { text += " user \(user)" }
    return text
  }
}

extension String {
  fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
    guard !target.isEmpty else { return self }
    var result = ""
    var rest = Substring(self)
    while let range = rest.range(of: target) {
      result += rest[..<range.lowerBound]
      result += replacement
      rest = rest[range.upperBound...]
    }
    return result + rest
  }

  /// Replaces the word after `database ` in a target description.
  fileprivate func replacingDatabase(with database: String) -> String {
    guard let range = self.range(of: " database ") else { return self + " database \(database)" }
    let afterName = self[range.upperBound...].firstIndex(of: " ") ?? endIndex
    return String(self[..<range.upperBound]) + database + self[afterName...]
  }
}
