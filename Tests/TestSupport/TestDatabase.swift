// Databases for tests: one PostgreSQL cluster per test process (the checkout's embedded cluster
// named "test", or the server in TEST_DATABASE_URL) and a fresh, migrated database per suite.
// It never touches the demo cluster or any database whose name it did not derive itself.

import AdPilot
import Foundation
import Postgres
import Synchronization

/// The test cluster to stop when the process exits, if this process started it.
private let clusterToStop = Mutex<EmbeddedDatabase?>(nil)

/// Per-suite databases on the process-wide test server. Safe to call from parallel tests.
public enum TestDatabase {
  /// Returns a new connection to the suite's database, creating the database (migrated unless
  /// `migrated` is false) on the suite's first request in this process.
  public static func connect(suite: String, migrated: Bool = true) throws -> Connection {
    try Connection(config(suite: suite, migrated: migrated))
  }

  /// Returns the connection settings of the suite's database, creating it on the first call for
  /// that suite in this process: dropped if left over from an earlier run, then created from a
  /// migrated template (or empty, when `migrated` is false).
  public static func config(suite: String, migrated: Bool = true) throws -> ConnectionConfig {
    try state.withLock { state in
      let name = databaseName(suite: suite, migrated: migrated)
      if let existing = state.suites[name] { return existing }
      let server = try state.server()
      let admin = try Connection(server.replacingDatabase("postgres"))
      defer { admin.close() }
      let template = migrated ? try state.template(admin: admin, server: server) : "template0"
      try admin.execute("DROP DATABASE IF EXISTS \(try admin.quoteIdentifier(name)) WITH (FORCE)")
      try admin.execute(
        "CREATE DATABASE \(try admin.quoteIdentifier(name)) TEMPLATE "
          + (try admin.quoteIdentifier(template)))
      let config = server.replacingDatabase(name)
      state.suites[name] = config
      return config
    }
  }

  /// Returns the database name of a suite: `test_` plus the suite name in lowercase letters,
  /// digits and underscores, cut to fit, plus a hash of the full name so that names stay unique.
  static func databaseName(suite: String, migrated: Bool) -> String {
    let cleaned = String(
      suite.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" }.prefix(36))
    let key = UInt64(bitPattern: Connection.advisoryKey(suite + (migrated ? "" : "#empty")))
    return "test_\(cleaned)_\(String(key, radix: 16).prefix(10))"
  }

  private static let state = LockedState()
}

/// The process-wide test server and the databases created on it, guarded by one lock.
private final class LockedState: @unchecked Sendable {
  private let lock = NSLock()
  private var serverConfig: ConnectionConfig?
  private var templateName: String?
  var suites: [String: ConnectionConfig] = [:]

  func withLock<T>(_ body: (LockedState) throws -> T) throws -> T {
    lock.lock()
    defer { lock.unlock() }
    return try body(self)
  }

  /// Returns the server: TEST_DATABASE_URL, else the checkout's embedded cluster "test",
  /// started on first use. Its fsync is off because test data is disposable.
  func server() throws -> ConnectionConfig {
    if let serverConfig { return serverConfig }
    let environment = ProcessInfo.processInfo.environment
    let config: ConnectionConfig
    if let url = environment["TEST_DATABASE_URL"], !url.isEmpty {
      config = ConnectionConfig(url: url)
    } else {
      let cluster = EmbeddedDatabase(root: try checkoutRoot(), name: "test", durable: false)
      let wasRunning = cluster.status().state == .running
      try cluster.start()
      config = cluster.config
      // A cluster this process started stops when it exits, so no test run leaves a server
      // behind. One that another process started stays up for that process.
      if !wasRunning {
        clusterToStop.withLock { $0 = cluster }
        atexit { _ = try? clusterToStop.withLock { $0 }?.stop() }
      }
    }
    serverConfig = config
    return config
  }

  /// Creates, once per process, a database migrated from the checkout's sql folder that suite
  /// databases are copied from, so that each suite does not rerun the migrations.
  func template(admin: Connection, server: ConnectionConfig) throws -> String {
    if let templateName { return templateName }
    try dropTemplatesOfExitedProcesses(admin: admin)
    let name = "test_template_\(getpid())"
    let quoted = try admin.quoteIdentifier(name)
    try admin.execute("DROP DATABASE IF EXISTS \(quoted) WITH (FORCE)")
    try admin.execute("CREATE DATABASE \(quoted) TEMPLATE template0")
    let connection = try Connection(server.replacingDatabase(name))
    defer { connection.close() }
    try Migrator(connection).migrate(directory: try checkoutRoot().appendingPathComponent("sql"))
    templateName = name
    return name
  }

  /// Drops `test_template_<pid>` databases whose process has exited, so runs leave none behind.
  private func dropTemplatesOfExitedProcesses(admin: Connection) throws {
    let rows = try admin.query(
      "SELECT datname FROM pg_database WHERE datname LIKE 'test\\_template\\_%'")
    for row in rows {
      let name = try row.string(0)
      guard let pid = Int32(name.dropFirst("test_template_".count)), pid != getpid(),
        kill(pid, 0) != 0, errno == ESRCH
      else { continue }
      try admin.execute("DROP DATABASE IF EXISTS \(try admin.quoteIdentifier(name)) WITH (FORCE)")
    }
  }

  /// Returns the checkout containing this file (Tests/TestSupport/TestDatabase.swift).
  private func checkoutRoot() throws -> URL {
    if let home = ProcessInfo.processInfo.environment["ADPILOT_HOME"], !home.isEmpty {
      return try ProjectPaths.root()
    }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent()
  }
}
