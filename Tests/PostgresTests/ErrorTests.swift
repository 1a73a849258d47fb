// Errors: SQLSTATE and diagnostics from the server, and connection failures that name the
// target and the fix for their cause without revealing the password.

import TestSupport
import Testing

@testable import Postgres

@Suite struct ErrorTests {
  @Test func uniqueViolationCarriesSQLState() throws {
    let connection = try TestDatabase.connect(suite: "PostgresTests.Errors")
    try connection.execute("CREATE TEMP TABLE keys (k text PRIMARY KEY)")
    try connection.execute("INSERT INTO keys VALUES ($1)", [.text("a")])
    let error = try #require(throws: PostgresError.self) {
      try connection.execute("INSERT INTO keys VALUES ($1)", [.text("a")])
    }
    #expect(error.sqlState == "23505")
    #expect(error.kind == .query)
    #expect(error.message.contains("duplicate key"))
    #expect(error.detail == "Key (k)=(a) already exists.")
  }

  @Test func syntaxErrorCarriesSQLState() throws {
    let connection = try TestDatabase.connect(suite: "PostgresTests.Errors")
    let error = try #require(throws: PostgresError.self) {
      _ = try connection.query("SELEC 1")
    }
    #expect(error.sqlState == "42601")
    #expect(String(describing: error).contains("SQLSTATE 42601"))
  }

  @Test func lostConnectionHintNamesFix() throws {
    let connection = try TestDatabase.connect(suite: "PostgresTests.Errors")
    let other = try TestDatabase.connect(suite: "PostgresTests.Errors")
    defer { other.close() }
    let backend = try connection.query("SELECT pg_backend_pid()")[0].int64(0)
    _ = try other.query("SELECT pg_terminate_backend($1::int, 30000)", [.int64(backend)])

    let error = try #require(throws: PostgresError.self) {
      _ = try connection.query("SELECT 1")
    }
    #expect(connection.isLost)
    #expect(error.hint == PostgresError.lostConnectionHint)
    #expect(String(describing: error).contains("adpilot db status"))
  }

  @Test func refusedConnectionNamesTargetNotPassword() throws {
    // Nothing listens on loopback port 1, so the connection is refused at once.
    let config = ConnectionConfig(url: "postgresql://alice:s3cret-Pa55@127.0.0.1:1/ledger")
    let error = try #require(throws: PostgresError.self) { _ = try Connection(config) }
    let text = String(describing: error)
    #expect(error.kind == .connection)
    #expect(text.contains("127.0.0.1:1"))
    #expect(text.contains("database ledger"))
    #expect(text.contains("adpilot db start"))
    #expect(text.contains("DATABASE_URL"))
    #expect(!text.contains("s3cret"))
    #expect(!config.displayTarget.contains("s3cret"))
  }

  @Test func unknownDatabaseHintNamesDatabase() throws {
    let server = try TestDatabase.config(suite: "PostgresTests.Errors")
    let config = server.replacingDatabase("test_no_such_database")
    let error = try #require(throws: PostgresError.self) { _ = try Connection(config) }
    let hint = try #require(error.hint)
    #expect(error.detail?.contains("test_no_such_database") == true)
    #expect(hint.contains("database does not exist"))
    #expect(hint.contains("createdb"))
    #expect(!hint.contains("adpilot db start"))
  }

  @Test func connectionHintFollowsCause() {
    let cases: [(message: String, needsPassword: Bool, expected: String)] = [
      ("fe_sendauth: no password supplied", true, "requires a password"),
      (
        "connection to server on socket \"/s/.s.PGSQL.5432\" failed: FATAL:  password "
          + "authentication failed for user \"alice\"", false, "rejected the user name or password"
      ),
      ("FATAL:  role \"nobody\" does not exist", false, "user does not exist"),
      ("FATAL:  database \"ledger\" does not exist", false, "database does not exist"),
      (
        "FATAL:  no pg_hba.conf entry for host \"127.0.0.1\", user \"alice\", database \"ledger\"",
        false, "pg_hba.conf"
      ),
      ("Connection refused", false, "is the server running?"),
    ]
    for testCase in cases {
      let hint = PostgresError.connectionHint(
        libpqMessage: testCase.message, needsPassword: testCase.needsPassword)
      #expect(hint.contains(testCase.expected), "message: \(testCase.message)")
    }
  }

  @Test func missingSocketNamesDirectory() throws {
    let config = ConnectionConfig.unixSocket(
      directory: "/nonexistent/adpilot-socket", database: "adpilot", user: "postgres")
    let error = try #require(throws: PostgresError.self) { _ = try Connection(config) }
    #expect(
      error.target == "socket /nonexistent/adpilot-socket:5432 database adpilot user postgres")
    #expect(String(describing: error).contains("/nonexistent/adpilot-socket"))
  }

  @Test func malformedURLDoesNotEchoPassword() throws {
    let config = ConnectionConfig(url: "postgresql://alice:s3cret%zz@127.0.0.1:1/ledger")
    let error = try #require(throws: PostgresError.self) { _ = try Connection(config) }
    #expect(error.message == "invalid connection string")
    #expect(!String(describing: error).contains("s3cret"))
    #expect(!config.displayTarget.contains("s3cret"))
  }
}

@Suite struct ConnectionConfigTests {
  @Test func databaseURLWins() throws {
    let config = try #require(
      ConnectionConfig.fromEnvironment([
        "DATABASE_URL": "postgresql://bob:pw@db.internal:6543/ads", "PGHOST": "/elsewhere",
      ]))
    #expect(config.url == "postgresql://bob:pw@db.internal:6543/ads")
    #expect(config.displayTarget == "host db.internal:6543 database ads user bob")
  }

  @Test func libpqVariablesGiveEmptyConnectionString() throws {
    let config = try #require(
      ConnectionConfig.fromEnvironment(["PGHOST": "/run/pg", "PGDATABASE": "ads"]))
    #expect(config.url == "")
    #expect(config.displayTarget == "socket /run/pg:5432 database ads")
  }

  @Test func noVariablesGiveNil() {
    #expect(ConnectionConfig.fromEnvironment([:]) == nil)
    #expect(ConnectionConfig.fromEnvironment(["PGDATA": "/var/lib/pg", "PGPASSWORD": "x"]) == nil)
    #expect(ConnectionConfig.fromEnvironment(["DATABASE_URL": ""]) == nil)
  }

  @Test func replacingDatabaseKeepsServer() throws {
    let config = ConnectionConfig(url: "postgresql://bob:pw@db.internal:6543/ads?sslmode=disable")
    let replaced = config.replacingDatabase("test_x")
    #expect(replaced.displayTarget == "host db.internal:6543 database test_x user bob")
    #expect(replaced.url.contains("password='pw'"))
    #expect(replaced.url.contains("sslmode='disable'"))
    #expect(!replaced.displayTarget.contains("pw"))
  }

  @Test func unixSocketQuotesAwkwardPaths() {
    let config = ConnectionConfig.unixSocket(
      directory: "/tmp/it's here\\", port: 5433, database: "adpilot")
    #expect(config.url == #"host='/tmp/it\'s here\\' port='5433' dbname='adpilot'"#)
    #expect(config.displayTarget == "socket /tmp/it's here\\:5433 database adpilot")
  }
}
