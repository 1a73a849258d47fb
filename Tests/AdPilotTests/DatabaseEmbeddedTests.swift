// The embedded cluster from a deep checkout path: idempotent start and stop, status, a start
// after a crash left a stale postmaster.pid, a start after the socket folder was removed, a
// server that does not inherit the start lock, a start after an unfinished initdb, and a data
// folder that holds no cluster.
// Each test removes the cluster it created.

import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot

@Suite(.serialized) struct DatabaseEmbeddedTests {
  /// Makes a fake checkout (Package.swift and sql/) more than 150 bytes deep under /tmp.
  func deepCheckout() throws -> URL {
    var folder = try temporaryFolder()
    for level in 0..<8 { folder.appendPathComponent("nested-folder-level-\(level)") }
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(
      at: folder.appendingPathComponent("sql"), withIntermediateDirectories: true)
    try "// fake".write(
      to: folder.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
    #expect(folder.path.utf8.count > 150)
    return folder
  }

  func removeCluster(_ database: EmbeddedDatabase, checkout: URL) {
    _ = try? database.stop()
    try? FileManager.default.removeItem(at: database.baseDirectory)
    try? FileManager.default.removeItem(at: database.socketDirectory)
    // A normal user's socket falls back to /tmp/adpilot-<hash>-<name>/socket for deep paths.
    let socketParent = database.socketDirectory.deletingLastPathComponent()
    if socketParent.lastPathComponent.hasPrefix("adpilot-") {
      try? FileManager.default.removeItem(at: socketParent)
    }
    var top = checkout
    while top.pathComponents.count > 1, !top.lastPathComponent.hasPrefix("adpilot-test-") {
      top.deleteLastPathComponent()
    }
    try? FileManager.default.removeItem(at: top)
  }

  @Test func embeddedDatabaseStartsTwiceAndStopsTwice() throws {
    let checkout = try deepCheckout()
    let database = EmbeddedDatabase(root: checkout, name: "deep", durable: false)
    defer { removeCluster(database, checkout: checkout) }
    #expect(database.socketDirectory.path.utf8.count + "/.s.PGSQL.5432".utf8.count <= 100)
    #expect(database.status().state == .notInitialized)

    try database.start()
    let running = database.status()
    #expect(running.state == .running)
    #expect(running.pid != nil)
    #expect(running.description.contains(database.dataDirectory.path))
    #expect(running.description.contains(database.socketDirectory.path))
    try database.start()
    #expect(database.status().pid == running.pid)

    let connection = try Connection(database.config)
    let rows = try connection.query(
      "SELECT current_database(), current_setting('listen_addresses')")
    #expect(try rows[0].string(0) == "adpilot")
    #expect(try rows[0].string(1) == "")
    // The server just started from the program on disk, so their versions agree.
    #expect(database.replacedServerWarning(connection) == nil)
    connection.close()

    #expect(try database.stop())
    #expect(database.status().state == .stopped)
    #expect(try !database.stop())
    #expect(database.status().state == .stopped)
  }

  @Test func unfinishedInitdbIsRunAgain() throws {
    let checkout = try deepCheckout()
    let database = EmbeddedDatabase(root: checkout, name: "halfmade", durable: false)
    defer { removeCluster(database, checkout: checkout) }
    // A start killed during initdb leaves a partial cluster in the folder initdb writes to.
    try database.prepareDirectories()
    let partial = database.initdbDirectory
    try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
    try "15\n".write(
      to: partial.appendingPathComponent("PG_VERSION"), atomically: true, encoding: .utf8)
    #expect(database.status().state == .notInitialized)

    try database.start()
    #expect(database.status().state == .running)
    #expect(!FileManager.default.fileExists(atPath: partial.path))
    let connection = try Connection(database.config)
    defer { connection.close() }
    #expect(try connection.query("SELECT current_database()")[0].string(0) == "adpilot")
  }

  @Test func dataFolderWithoutClusterNamesFix() throws {
    let checkout = try deepCheckout()
    let database = EmbeddedDatabase(root: checkout, name: "occupied", durable: false)
    defer { removeCluster(database, checkout: checkout) }
    try database.prepareDirectories()
    try FileManager.default.createDirectory(
      at: database.dataDirectory, withIntermediateDirectories: true)
    try "x".write(
      to: database.dataDirectory.appendingPathComponent("notes.txt"), atomically: true,
      encoding: .utf8)

    let error = #expect(throws: DatabaseSetupError.self) { try database.start() }
    #expect(
      error?.message
        == "could not rename the new cluster \(database.initdbDirectory.path) to "
        + "\(database.dataDirectory.path)")
    #expect(error?.fix?.hasPrefix("\(database.dataDirectory.path) holds no cluster") == true)
    #expect(!FileManager.default.fileExists(atPath: database.initdbDirectory.path))
  }

  @Test func embeddedDatabaseIgnoresStalePidFile() throws {
    let checkout = try deepCheckout()
    let database = EmbeddedDatabase(root: checkout, name: "stale", durable: false)
    defer { removeCluster(database, checkout: checkout) }
    try database.start()
    try database.stop()

    // A crash leaves postmaster.pid behind. After a reboot its pid may belong to another program,
    // which here is this test process.
    let pidFile = database.dataDirectory.appendingPathComponent("postmaster.pid")
    try "\(getpid())\n\(database.dataDirectory.path)\n".write(
      to: pidFile, atomically: false, encoding: .utf8)
    #expect(database.status().state == .stopped)

    // Or to a process of another PostgreSQL cluster, here a backend of the tests' own server,
    // which stop must leave alone.
    let other = try TestDatabase.connect(suite: "embedded.otherServer")
    defer { other.close() }
    let backend = try other.query("SELECT pg_backend_pid()")[0].int64(0)
    try "\(backend)\n\(database.dataDirectory.path)\n".write(
      to: pidFile, atomically: false, encoding: .utf8)
    #expect(database.status().state == .stopped)
    try database.stop()
    #expect(try other.query("SELECT 1")[0].int64(0) == 1)

    try database.start()
    #expect(database.status().state == .running)
    let connection = try Connection(database.config)
    #expect(try connection.query("SELECT 1")[0].int64(0) == 1)
    connection.close()
  }

  @Test func startWithoutSocketNamesFix() throws {
    let checkout = try deepCheckout()
    let database = EmbeddedDatabase(root: checkout, name: "socket", durable: false)
    defer { removeCluster(database, checkout: checkout) }
    try database.start()
    let pid = try #require(database.status().pid)

    // The server keeps running without its socket, so no client can reach it.
    try FileManager.default.removeItem(at: database.socketDirectory)
    let error = try #require(throws: DatabaseSetupError.self) { try database.start() }
    #expect(error.message.contains("pid \(pid)"))
    #expect(error.message.contains(database.socketDirectory.path))
    #expect(error.fix?.contains("adpilot db stop") == true)
    #expect(database.missingSocketError(pid: pid) != nil)

    try database.stop()
    try database.start()
    #expect(database.missingSocketError(pid: try #require(database.status().pid)) == nil)
    let connection = try Connection(database.config)
    #expect(try connection.query("SELECT 1")[0].int64(0) == 1)
    connection.close()
  }

  @Test func serverHoldsNoStartLock() throws {
    let checkout = try deepCheckout()
    let database = EmbeddedDatabase(root: checkout, name: "startlock", durable: false)
    defer { removeCluster(database, checkout: checkout) }
    try database.start()
    let pid = try #require(database.status().pid)

    // A postmaster that inherited the descriptor would keep the flock held after a start that
    // was killed before it unlocked, and every later start and stop would wait for it.
    let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")
    let targets = descriptors.compactMap {
      try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")
    }
    #expect(!targets.isEmpty)
    #expect(!targets.contains(database.startLockFile.path))
  }

  @Test func commandOutputFilesAreUnlinked() throws {
    // The program's standard output is already unlinked while it runs, so a killed start
    // leaves no file in TMPDIR.
    let result = try EmbeddedDatabase.runCommand(
      "/bin/readlink", ["/proc/self/fd/1"], directory: "/", environment: [:])
    #expect(result.status == 0)
    #expect(result.stdout.hasSuffix(" (deleted)\n"))
    #expect(result.stderr.isEmpty)
  }

  @Test func serverVersionComparison() throws {
    let program = "/usr/lib/postgresql/15/bin/postgres"
    let warning = try #require(
      EmbeddedDatabase.versionMismatchWarning(
        running: "15.18 (Debian 15.18-0+deb12u1)",
        installed: "postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n", program: program))
    #expect(
      warning
        == "the running server is PostgreSQL 15.18, but \(program) is now 15.20, probably from a "
        + "package upgrade; the server fails to load libraries such as PL/pgSQL, which imports "
        + "need, until it restarts: run `adpilot db stop` and then `adpilot db start`")
    #expect(
      EmbeddedDatabase.versionMismatchWarning(
        running: "15.20 (Debian 15.20-0+deb12u1)",
        installed: "postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n", program: program)
        == nil)
    #expect(
      EmbeddedDatabase.versionMismatchWarning(
        running: "15.20", installed: "postgres (PostgreSQL) 15.20\n", program: program) == nil)
    #expect(
      EmbeddedDatabase.versionMismatchWarning(running: "", installed: "", program: program) == nil)
  }

  @Test func layoutFollowsUser() {
    let root = URL(fileURLWithPath: "/some/checkout")
    let demo = EmbeddedDatabase(root: root)
    let test = EmbeddedDatabase(root: root, name: "test")
    if getuid() == 0 {
      #expect(demo.baseDirectory.path.hasPrefix("/tmp/adpilot-"))
      #expect(demo.baseDirectory.lastPathComponent.count == "adpilot-".count + 16)
      #expect(test.baseDirectory.path == demo.baseDirectory.path + "-test")
    } else {
      #expect(demo.baseDirectory.path == "/some/checkout/.adpilot/adpilot")
      #expect(test.baseDirectory.path == "/some/checkout/.adpilot/test")
    }
    #expect(EmbeddedDatabase(root: root).baseDirectory == demo.baseDirectory)
  }

  @Test func projectPathsHonourHome() throws {
    let root = try ProjectPaths.root(environment: ["ADPILOT_HOME": checkoutRoot.path])
    #expect(root.path == checkoutRoot.standardizedFileURL.path)
    #expect(throws: DatabaseSetupError.self) {
      try ProjectPaths.root(environment: ["ADPILOT_HOME": "/nonexistent/checkout"])
    }
  }
}
