// Transactions (with savepoints when nested) and PostgreSQL advisory locks.
// Rollback and unlock failures after a thrown error are ignored so that the caller sees the
// original error. The server ends the transaction or session lock when the connection closes.

import CLibPQ

extension Connection {
  /// Runs `body` in a transaction: BEGIN, then COMMIT if it returns or ROLLBACK if it throws.
  /// Inside an open transaction it uses a savepoint instead, so only `body`'s work is undone.
  ///
  /// The transaction is READ COMMITTED whatever the server's `default_transaction_isolation`,
  /// because callers take a lock and then read: each statement after the lock wait must see
  /// what the lock's last holder committed, which a snapshot taken before the wait would not.
  public func transaction<T>(_ body: () throws -> T) throws -> T {
    let handle = try liveHandle()
    switch PQtransactionStatus(handle) {
    case PQTRANS_IDLE:
      try execute("BEGIN ISOLATION LEVEL READ COMMITTED")
      do {
        let value = try body()
        try execute("COMMIT")
        return value
      } catch {
        _ = try? execute("ROLLBACK")
        throw error
      }
    case PQTRANS_INTRANS:
      savepointCounter += 1
      let savepoint = "adpilot_savepoint_\(savepointCounter)"
      try execute("SAVEPOINT \(savepoint)")
      do {
        let value = try body()
        try execute("RELEASE SAVEPOINT \(savepoint)")
        return value
      } catch {
        _ = try? execute("ROLLBACK TO SAVEPOINT \(savepoint)")
        _ = try? execute("RELEASE SAVEPOINT \(savepoint)")
        throw error
      }
    default:
      throw PostgresError(
        kind: .query, message: "cannot start a transaction: the current one has failed",
        hint: "roll back the failed transaction first", target: target)
    }
  }

  /// Holds the session-level advisory lock `key` (pg_advisory_lock, which waits) while `body`
  /// runs, and releases it afterwards, also when `body` throws.
  public func withAdvisoryLock<T>(_ key: Int64, _ body: () throws -> T) throws -> T {
    _ = try query("SELECT pg_advisory_lock($1)", [.int64(key)])
    let value: T
    do {
      value = try body()
    } catch {
      _ = try? query("SELECT pg_advisory_unlock($1)", [.int64(key)])
      throw error
    }
    let released = try query("SELECT pg_advisory_unlock($1)", [.int64(key)])
    guard try released.first?.bool(0) == true else {
      throw PostgresError(
        kind: .lock, message: "advisory lock \(key) was not held at release",
        hint: "do not call pg_advisory_unlock inside withAdvisoryLock", target: target)
    }
    return value
  }

  /// Takes the transaction-level advisory lock `key` (pg_advisory_xact_lock, which waits); the
  /// server releases it at COMMIT or ROLLBACK. Throws `.lock` outside a transaction, where the
  /// lock would be released as soon as it was taken.
  public func advisoryXactLock(_ key: Int64) throws(PostgresError) {
    let handle = try liveHandle()
    guard PQtransactionStatus(handle) == PQTRANS_INTRANS else {
      throw PostgresError(
        kind: .lock, message: "advisoryXactLock(\(key)) called outside a transaction",
        hint: "call it inside transaction { ... }", target: target)
    }
    _ = try query("SELECT pg_advisory_xact_lock($1)", [.int64(key)])
  }

  /// Returns a stable 64-bit lock key for a name: FNV-1a 64 over its UTF-8 bytes, so every
  /// process and platform derives the same key.
  public static func advisoryKey(_ text: String) -> Int64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
      hash ^= UInt64(byte)
      hash &*= 0x0000_0100_0000_01b3
    }
    return Int64(bitPattern: hash)
  }
}
