// Locations of the checkout (the folder with Package.swift and sql/) and the folders in it.
// It only looks paths up; it creates nothing.

import Foundation

/// The project checkout's folders: migrations, campaign files and the shared data sets.
public enum ProjectPaths {
  /// Returns the checkout root from `ADPILOT_HOME`, else the nearest folder above the running
  /// executable, then above the working directory, that contains `Package.swift` and `sql/`.
  public static func root() throws -> URL {
    try root(environment: ProcessInfo.processInfo.environment)
  }

  /// Returns the checkout root as `root()` does, reading `ADPILOT_HOME` from `environment`.
  public static func root(environment: [String: String]) throws -> URL {
    if let home = environment["ADPILOT_HOME"], !home.isEmpty {
      let url = URL(fileURLWithPath: home, isDirectory: true).standardizedFileURL
      guard isProjectRoot(url) else {
        throw DatabaseSetupError(
          "ADPILOT_HOME is not an AdPilot checkout: \(url.path)",
          fix: "point ADPILOT_HOME at the folder that holds Package.swift and sql/")
      }
      return url
    }
    var starts: [URL] = []
    if let executable = Bundle.main.executableURL { starts.append(executable) }
    starts.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true))
    for start in starts {
      if let found = searchUpward(from: start.standardizedFileURL.resolvingSymlinksInPath()) {
        return found
      }
    }
    throw DatabaseSetupError(
      "AdPilot checkout not found above \(starts.map(\.path).joined(separator: " or "))",
      fix: "run from inside the checkout or set ADPILOT_HOME to it")
  }

  /// The folder of numbered migrations, `<root>/sql`.
  public static var sqlDirectory: URL {
    get throws { try root().appendingPathComponent("sql", isDirectory: true) }
  }

  /// The folder of campaign definitions, `<root>/campaigns`.
  public static var campaignsDirectory: URL {
    get throws { try root().appendingPathComponent("campaigns", isDirectory: true) }
  }

  /// The shared data sets: `ADPILOT_DATA` if set, else `<root>/../shared/data`.
  public static var sharedDataDirectory: URL {
    get throws {
      let environment = ProcessInfo.processInfo.environment
      if let data = environment["ADPILOT_DATA"], !data.isEmpty {
        return URL(fileURLWithPath: data, isDirectory: true)
      }
      return try root().deletingLastPathComponent()
        .appendingPathComponent("shared", isDirectory: true)
        .appendingPathComponent("data", isDirectory: true)
    }
  }

  /// Returns whether `url` contains Package.swift and a sql folder.
  static func isProjectRoot(_ url: URL) -> Bool {
    let manager = FileManager.default
    var isDirectory: ObjCBool = false
    return manager.fileExists(atPath: url.appendingPathComponent("Package.swift").path)
      && manager.fileExists(
        atPath: url.appendingPathComponent("sql").path, isDirectory: &isDirectory)
      && isDirectory.boolValue
  }

  private static func searchUpward(from start: URL) -> URL? {
    var current = start
    while true {
      if isProjectRoot(current) { return current }
      let parent = current.deletingLastPathComponent()
      if parent.path == current.path { return nil }
      current = parent
    }
  }
}
