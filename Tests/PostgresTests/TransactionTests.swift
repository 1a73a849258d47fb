// Transactions, savepoints and advisory locks, checked from a second connection where the
// property is about what other sessions see.

import Postgres
import TestSupport
import Testing

@Suite struct TransactionTests {
  static let suite = "PostgresTests.Transactions"
  let connection: Connection

  init() throws {
    connection = try TestDatabase.connect(suite: Self.suite)
  }

  struct Failure: Error {}

  @Test func transactionRollsBackOnThrow() throws {
    try connection.execute("CREATE TEMP TABLE ledger (n int)")
    #expect(throws: Failure.self) {
      try connection.transaction { () throws in
        try connection.execute("INSERT INTO ledger VALUES (1)")
        throw Failure()
      }
    }
    #expect(try connection.query("SELECT count(*) FROM ledger")[0].int64(0) == 0)
  }

  @Test func transactionCommitsAndReturnsValue() throws {
    try connection.execute("CREATE TEMP TABLE committed (n int)")
    let inserted = try connection.transaction {
      try connection.execute("INSERT INTO committed VALUES (1), (2)")
    }
    #expect(inserted == 2)
    #expect(try connection.query("SELECT count(*) FROM committed")[0].int64(0) == 2)
  }

  @Test func nestedTransactionRollsBackOnlyItsWork() throws {
    try connection.execute("CREATE TEMP TABLE nested (n int)")
    try connection.transaction { () throws in
      try connection.execute("INSERT INTO nested VALUES (1)")
      #expect(throws: Failure.self) {
        try connection.transaction { () throws in
          try connection.execute("INSERT INTO nested VALUES (2)")
          throw Failure()
        }
      }
      try connection.execute("INSERT INTO nested VALUES (3)")
    }
    let rows = try connection.query("SELECT n FROM nested ORDER BY n")
    #expect(try rows.map { try $0.int64(0) } == [1, 3])
  }

  @Test func transactionRollsBackAfterServerError() throws {
    try connection.execute("CREATE TEMP TABLE unique_ledger (n int PRIMARY KEY)")
    #expect(throws: PostgresError.self) {
      try connection.transaction { () throws in
        try connection.execute("INSERT INTO unique_ledger VALUES (1)")
        try connection.execute("INSERT INTO unique_ledger VALUES (1)")
      }
    }
    #expect(try connection.query("SELECT count(*) FROM unique_ledger")[0].int64(0) == 0)
    #expect(try connection.query("SELECT 1")[0].int64(0) == 1)
  }

  @Test func transactionReadsCommittedRowsWhateverTheServerDefault() throws {
    try connection.execute("SET default_transaction_isolation = 'repeatable read'")
    defer { _ = try? connection.execute("RESET default_transaction_isolation") }
    let other = try TestDatabase.connect(suite: Self.suite)
    let table = "isolation_ledger"
    try other.execute("CREATE TABLE \(table) (n int)")
    defer { _ = try? other.execute("DROP TABLE \(table)") }
    let counts = try connection.transaction { () throws -> [Int64] in
      let before = try connection.query("SELECT count(*) FROM \(table)")[0].int64(0)
      try other.execute("INSERT INTO \(table) VALUES (1)")
      let after = try connection.query("SELECT count(*) FROM \(table)")[0].int64(0)
      return [before, after]
    }
    #expect(counts == [0, 1])
  }

  @Test func advisoryLockExcludesSecondConnection() throws {
    let other = try TestDatabase.connect(suite: Self.suite)
    let key = Connection.advisoryKey("test.advisoryLockExcludesSecondConnection")
    let tryLock = "SELECT pg_try_advisory_lock($1)"
    try connection.withAdvisoryLock(key) { () throws in
      #expect(try other.query(tryLock, [.int64(key)])[0].bool(0) == false)
    }
    #expect(try other.query(tryLock, [.int64(key)])[0].bool(0) == true)
    _ = try other.query("SELECT pg_advisory_unlock($1)", [.int64(key)])
  }

  @Test func advisoryLockIsReleasedWhenBodyThrows() throws {
    let other = try TestDatabase.connect(suite: Self.suite)
    let key = Connection.advisoryKey("test.advisoryLockIsReleasedWhenBodyThrows")
    #expect(throws: Failure.self) {
      try connection.withAdvisoryLock(key) { throw Failure() }
    }
    #expect(try other.query("SELECT pg_try_advisory_lock($1)", [.int64(key)])[0].bool(0) == true)
    _ = try other.query("SELECT pg_advisory_unlock($1)", [.int64(key)])
  }

  @Test func advisoryXactLockHoldsUntilCommit() throws {
    let other = try TestDatabase.connect(suite: Self.suite)
    let key = Connection.advisoryKey("test.advisoryXactLockHoldsUntilCommit")
    let tryLock = "SELECT pg_try_advisory_xact_lock($1)"
    try connection.transaction { () throws in
      try connection.advisoryXactLock(key)
      #expect(try other.query(tryLock, [.int64(key)])[0].bool(0) == false)
    }
    #expect(try other.query(tryLock, [.int64(key)])[0].bool(0) == true)
  }

  @Test func advisoryXactLockRequiresTransaction() throws {
    let error = try #require(throws: PostgresError.self) {
      try connection.advisoryXactLock(1)
    }
    #expect(error.kind == .lock)
  }

  @Test func advisoryKeyIsFNV1a64() {
    // FNV-1a 64 test vectors: the offset basis for "", and 0xaf63dc4c8601ec8c for "a".
    #expect(Connection.advisoryKey("") == Int64(bitPattern: 0xcbf2_9ce4_8422_2325))
    #expect(Connection.advisoryKey("a") == Int64(bitPattern: 0xaf63_dc4c_8601_ec8c))
    #expect(Connection.advisoryKey("plan 2024-01-01") != Connection.advisoryKey("plan 2024-01-02"))
  }

  @Test func notificationIsDelivered() throws {
    let listener = try TestDatabase.connect(suite: Self.suite)
    let sender = try TestDatabase.connect(suite: Self.suite)
    let channel = "Scoring Queue \"\(Int.random(in: 0..<1_000_000))\""
    try listener.listen(channel)
    let payload = "request 'r-1', ünïcødé"
    try sender.notify(channel, payload)
    let received = try listener.waitForNotification(timeout: 10)
    #expect(received?.channel == channel)
    #expect(received?.payload == payload)
  }

  @Test func notificationWaitTimesOut() throws {
    let listener = try TestDatabase.connect(suite: Self.suite)
    try listener.listen("nobody_sends_here")
    let clock = ContinuousClock()
    let start = clock.now
    let received = try listener.waitForNotification(timeout: 0.2)
    #expect(received == nil)
    #expect(clock.now - start >= .milliseconds(190))
  }
}
