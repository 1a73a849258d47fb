// A PostgreSQL cluster that AdPilot runs for itself: initdb, pg_ctl start and stop, Unix socket
// only (listen_addresses=''). It never listens on TCP and never touches a server it did not start.
// As root the server runs as the `postgres` user (PostgreSQL refuses to run as root) in a
// postgres-owned folder under /tmp, because that user cannot enter a checkout under /root.

import Foundation
import Postgres

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The embedded PostgreSQL cluster of one checkout. Start and stop are idempotent.
public struct EmbeddedDatabase: Sendable {
  /// The state of the cluster, with its folders.
  public struct Status: Sendable, Equatable, CustomStringConvertible {
    /// Whether the cluster exists and its server runs.
    public enum State: String, Sendable {
      case running
      case stopped
      case notInitialized = "not initialized"
    }

    public var state: State
    /// The postmaster's process id while running.
    public var pid: Int32?
    public var dataDirectory: URL
    public var socketDirectory: URL

    public var description: String {
      let process = pid.map { " (pid \($0))" } ?? ""
      return "\(state.rawValue)\(process), data \(dataDirectory.path), "
        + "socket \(socketDirectory.path)"
    }
  }

  /// The database created on first start and used by AdPilot.
  public static let databaseName = "adpilot"
  /// The superuser name given to initdb; connections use it.
  public static let superuser = "postgres"
  /// The operating-system account that runs the server when this process is root.
  static let serverAccount = "postgres"
  /// The longest Unix socket path this code creates. sun_path has room for 108 bytes on Linux and
  /// 104 on macOS, including the terminating NUL.
  static let maxSocketPathBytes = 100

  /// The checkout this cluster belongs to.
  public let root: URL
  /// The cluster name: `adpilot` for the demo, `test` for tests.
  public let name: String
  /// False turns off fsync, full-page writes and synchronous commit, for throwaway clusters.
  public let durable: Bool
  /// The folder holding the data directory, the socket directory (usually) and the start lock.
  public let baseDirectory: URL
  /// The PostgreSQL data directory (PGDATA). The server log is `server.log` inside it.
  public let dataDirectory: URL
  /// The folder of the server's Unix socket.
  public let socketDirectory: URL
  /// The port number, which only names the socket file because TCP is off.
  public let port: Int
  /// True when server commands run as `postgres` through runuser because this process is root.
  public let runsAsServerAccount: Bool

  /// Lays out the cluster `name` of the checkout at `root`. Nothing is created until `start()`.
  /// Characters of `name` other than letters, digits, `-` and `_` become `-`.
  public init(root: URL, name: String = "adpilot", durable: Bool = true) {
    let root = root.standardizedFileURL
    let name = String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" })
    self.root = root
    self.name = name
    self.durable = durable
    self.port = 5432
    self.runsAsServerAccount = getuid() == 0

    // The hash keeps the /tmp path short and stable for any checkout depth.
    let hash = String(UInt64(bitPattern: Connection.advisoryKey(root.path)), radix: 16)
    let paddedHash = String(repeating: "0", count: 16 - hash.count) + hash
    let suffix = name == EmbeddedDatabase.databaseName ? "" : "-\(name)"
    let temporaryBase = URL(
      fileURLWithPath: "/tmp/adpilot-\(paddedHash)\(suffix)", isDirectory: true)

    if runsAsServerAccount {
      baseDirectory = temporaryBase
      socketDirectory = temporaryBase.appendingPathComponent("socket", isDirectory: true)
    } else {
      baseDirectory = root.appendingPathComponent(".adpilot/\(name)", isDirectory: true)
      let inCheckout = baseDirectory.appendingPathComponent("socket", isDirectory: true)
      let socketFile = inCheckout.path + "/.s.PGSQL.\(port)"
      socketDirectory =
        socketFile.utf8.count <= EmbeddedDatabase.maxSocketPathBytes
        ? inCheckout : temporaryBase.appendingPathComponent("socket", isDirectory: true)
    }
    dataDirectory = baseDirectory.appendingPathComponent("data", isDirectory: true)
  }

  /// The connection settings of database `adpilot` on this cluster.
  public var config: ConnectionConfig {
    ConnectionConfig.unixSocket(
      directory: socketDirectory.path, port: port, database: EmbeddedDatabase.databaseName,
      user: EmbeddedDatabase.superuser)
  }

  /// Returns whether the cluster is initialized and whether its server runs.
  public func status() -> Status {
    var status = Status(
      state: .notInitialized, pid: nil, dataDirectory: dataDirectory,
      socketDirectory: socketDirectory)
    guard isInitialized else { return status }
    status.pid = runningServerPID()
    status.state = status.pid == nil ? .stopped : .running
    return status
  }

  /// Initializes the cluster if needed, starts its server if it is not running, and creates
  /// database `adpilot`. A postmaster.pid left by a crashed server does not block the start.
  /// Throws ``missingSocketError(pid:)`` when the server runs without its socket file.
  public func start() throws {
    try prepareDirectories()
    try withStartLock {
      if !isInitialized { try initialize() }
      if let pid = runningServerPID() {
        if let error = missingSocketError(pid: pid) { throw error }
      } else {
        removeStaleLockFiles()
        try startServer()
      }
      try createDatabase()
    }
  }

  /// Stops the server (fast shutdown) if it runs, and returns whether this call stopped it. It
  /// returns false when the server was not running, or when another process stopped it first.
  @discardableResult
  public func stop() throws -> Bool {
    guard isInitialized, FileManager.default.fileExists(atPath: baseDirectory.path) else {
      return false
    }
    return try withStartLock {
      guard runningServerPID() != nil else { return false }
      let result = try runServerCommand(
        "pg_ctl", ["-D", dataDirectory.path, "-m", "fast", "-w", "-t", "60", "stop"])
      if result.status != 0, runningServerPID() != nil {
        throw DatabaseSetupError(
          "pg_ctl stop failed for \(dataDirectory.path)", detail: result.stderr,
          fix: "read \(logFile.path), then stop the postmaster by its pid")
      }
      return true
    }
  }

  /// Returns an error when the server runs but its socket file is gone, as after someone removed
  /// the socket folder. No client can connect then, and PostgreSQL creates the socket again only
  /// when it restarts. Returns nil when the socket file exists.
  public func missingSocketError(pid: Int32) -> DatabaseSetupError? {
    guard !FileManager.default.fileExists(atPath: socketFile.path) else { return nil }
    return DatabaseSetupError(
      "the server of \(dataDirectory.path) runs (pid \(pid)), but its socket \(socketFile.path) "
        + "is missing, so no client can connect",
      fix: "run `adpilot db stop`, then `adpilot db start`, which restarts the server")
  }

  var logFile: URL { dataDirectory.appendingPathComponent("server.log") }

  var startLockFile: URL { baseDirectory.appendingPathComponent("start.lock") }

  var socketFile: URL { socketDirectory.appendingPathComponent(".s.PGSQL.\(port)") }

  var isInitialized: Bool {
    FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path)
  }
}

extension EmbeddedDatabase {
  /// Creates the base and socket folders. As root they belong to `postgres` with mode 0755, so
  /// the server can write them and root can reach the socket. initdb creates the data folder.
  func prepareDirectories() throws {
    let manager = FileManager.default
    for directory in [baseDirectory, socketDirectory] {
      do {
        try manager.createDirectory(at: directory, withIntermediateDirectories: true)
      } catch {
        throw DatabaseSetupError(
          "could not create \(directory.path)", detail: "\(error)",
          fix: "check the permissions of its parent folder")
      }
      guard runsAsServerAccount else { continue }
      try checkOwnership(directory)
      let account = try EmbeddedDatabase.serverAccountIDs()
      guard chown(directory.path, account.uid, account.gid) == 0,
        chmod(directory.path, 0o755) == 0
      else {
        throw DatabaseSetupError(
          "could not give \(directory.path) to user \(EmbeddedDatabase.serverAccount)",
          detail: String(cString: strerror(errno)), fix: "remove the folder and start again")
      }
    }
  }

  /// Rejects a /tmp folder that someone other than root or `postgres` created first.
  private func checkOwnership(_ directory: URL) throws {
    var info = stat()
    guard stat(directory.path, &info) == 0 else { return }
    let account = try EmbeddedDatabase.serverAccountIDs()
    guard info.st_uid == 0 || info.st_uid == account.uid else {
      throw DatabaseSetupError(
        "\(directory.path) belongs to uid \(info.st_uid), expected root or "
          + EmbeddedDatabase.serverAccount,
        fix: "remove \(directory.path) if it is not in use, then start again")
    }
  }

  static func serverAccountIDs() throws -> (uid: uid_t, gid: gid_t) {
    guard let entry = getpwnam(serverAccount) else {
      throw DatabaseSetupError(
        "user '\(serverAccount)' not found: PostgreSQL cannot run as root",
        fix: "install the postgresql package (it creates the user), or run as a normal user")
    }
    return (entry.pointee.pw_uid, entry.pointee.pw_gid)
  }

  /// Runs `body` holding an exclusive flock on `<base>/start.lock`, so that two processes do not
  /// run initdb or pg_ctl on the same cluster at once.
  ///
  /// The descriptor is close-on-exec. A flock belongs to the open file description, so a
  /// postmaster that inherited it would keep the lock after this process died before unlocking
  /// (killed while it started the server), and every later start and stop would wait forever.
  func withStartLock<T>(_ body: () throws -> T) throws -> T {
    let path = startLockFile.path
    let descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
      throw DatabaseSetupError(
        "could not open \(path)", detail: String(cString: strerror(errno)),
        fix: "check the permissions of \(baseDirectory.path)")
    }
    defer { close(descriptor) }
    while flock(descriptor, LOCK_EX) != 0 {
      guard errno == EINTR else {
        throw DatabaseSetupError("could not lock \(path)", detail: String(cString: strerror(errno)))
      }
    }
    defer { flock(descriptor, LOCK_UN) }
    return try body()
  }

  /// The folder initdb writes a new cluster to before it becomes the data folder.
  var initdbDirectory: URL { baseDirectory.appendingPathComponent("data.initdb") }

  /// Runs initdb: superuser `postgres`, trust authentication (the socket is the only way in),
  /// UTF8 encoding and the C locale, so sorting does not depend on the machine's locales.
  ///
  /// initdb writes to ``initdbDirectory``, which is renamed to the data folder once it succeeds.
  /// A start killed during initdb then leaves no data folder that later starts would take for a
  /// whole cluster, and the next start removes the partial folder and runs initdb again.
  func initialize() throws {
    let staging = initdbDirectory
    if FileManager.default.fileExists(atPath: staging.path) {
      do {
        try FileManager.default.removeItem(at: staging)
      } catch {
        throw DatabaseSetupError(
          "could not remove \(staging.path), left by an initdb that did not finish",
          detail: "\(error)", fix: "remove it by hand, then start again")
      }
    }
    var arguments = [
      "-D", staging.path, "-U", EmbeddedDatabase.superuser, "-A", "trust", "-E", "UTF8",
      "--locale=C",
    ]
    if !durable { arguments.append("--no-sync") }
    let result = try runServerCommand("initdb", arguments)
    guard result.status == 0 else {
      try? FileManager.default.removeItem(at: staging)
      throw DatabaseSetupError(
        "initdb failed for \(staging.path) (exit status \(result.status))",
        detail: result.stderr.isEmpty ? result.stdout : result.stderr,
        fix: "read the initdb output above, then start again")
    }
    guard rename(staging.path, dataDirectory.path) == 0 else {
      let reason = String(cString: strerror(errno))
      try? FileManager.default.removeItem(at: staging)
      throw DatabaseSetupError(
        "could not rename the new cluster \(staging.path) to \(dataDirectory.path)",
        detail: reason,
        fix: "\(dataDirectory.path) holds no cluster (no PG_VERSION file); remove it if it is "
          + "not in use, then start again")
    }
  }

  /// Runs `pg_ctl -w start` with a Unix socket only. A failure caused by the shared memory of a
  /// crashed server whose backends are still exiting is retried once after two seconds.
  func startServer() throws {
    var options = [
      "-c listen_addresses=''", "-k \(EmbeddedDatabase.shellQuoted(socketDirectory.path))",
      "-c unix_socket_permissions=0777", "-p \(port)",
    ]
    if !durable {
      options += [
        "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
        "-c shared_buffers=32MB",
      ]
    }
    let arguments = [
      "-D", dataDirectory.path, "-l", logFile.path, "-w", "-t", "60", "-o",
      options.joined(separator: " "), "start",
    ]
    let firstResult = try runServerCommand("pg_ctl", arguments)
    let result: CommandResult
    if firstResult.status != 0, runningServerPID() == nil,
      logTail().contains("shared memory block")
    {
      Thread.sleep(forTimeInterval: 2)
      result = try runServerCommand("pg_ctl", arguments)
    } else {
      result = firstResult
    }
    guard result.status == 0 else {
      throw DatabaseSetupError(
        "pg_ctl start failed for \(dataDirectory.path) (exit status \(result.status))",
        detail: [result.stderr, "server log (\(logFile.path)):", logTail()].joined(separator: "\n"),
        fix: "read the server log above; `adpilot db stop` then `adpilot db start` retries")
    }
  }

  /// Creates database `adpilot` unless it exists.
  func createDatabase() throws {
    let connection = try Connection(config.replacingDatabase("postgres"))
    defer { connection.close() }
    let existing = try connection.query(
      "SELECT 1 FROM pg_database WHERE datname = $1", [.text(EmbeddedDatabase.databaseName)])
    guard existing.isEmpty else { return }
    do {
      try connection.execute("CREATE DATABASE \(EmbeddedDatabase.databaseName)")
    } catch {
      // Another process may have created it between the check and the CREATE.
      guard error.sqlState == "42P04" else { throw error }
    }
  }

  /// Returns the last 20 lines of the server log, or an empty string if there is none.
  func logTail() -> String {
    guard let data = FileManager.default.contents(atPath: logFile.path) else { return "" }
    let lines = String(decoding: data, as: UTF8.self).split(
      separator: "\n", omittingEmptySubsequences: false)
    return lines.suffix(20).joined(separator: "\n")
  }

  static func shellQuoted(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }
}

extension EmbeddedDatabase {
  /// Returns a warning when the running server is another version than the `postgres` program
  /// now on disk, as after a package upgrade under a running cluster. Such a server fails to
  /// load its own libraries (PL/pgSQL, which the importers' functions use) until it restarts.
  /// Returns nil when the versions match or either cannot be read.
  public func replacedServerWarning(_ connection: Connection) -> String? {
    guard
      let running = try? connection.query("SHOW server_version").first?.string(0),
      let program = try? EmbeddedDatabase.binDirectory().appendingPathComponent("postgres").path,
      let installed = try? EmbeddedDatabase.runCommand(
        program, ["--version"], directory: "/", environment: ProcessInfo.processInfo.environment),
      installed.status == 0
    else { return nil }
    return EmbeddedDatabase.versionMismatchWarning(
      running: running, installed: installed.stdout, program: program)
  }

  /// Compares `SHOW server_version` (`15.18 (Debian 15.18-0+deb12u1)`) with the output of
  /// `postgres --version` (`postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)`) by their
  /// version numbers.
  static func versionMismatchWarning(running: String, installed: String, program: String)
    -> String?
  {
    let runningVersion = running.split(whereSeparator: \.isWhitespace).first.map(String.init)
    let installedVersion = installed.split(whereSeparator: \.isWhitespace).dropFirst(2).first
      .map(String.init)
    guard let runningVersion, let installedVersion, runningVersion != installedVersion else {
      return nil
    }
    return "the running server is PostgreSQL \(runningVersion), but \(program) is now "
      + "\(installedVersion), probably from a package upgrade; the server fails to load "
      + "libraries such as PL/pgSQL, which imports need, until it restarts: run "
      + "`adpilot db stop` and then `adpilot db start`"
  }
}
