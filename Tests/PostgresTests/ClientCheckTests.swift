// A statement whose client went away without a word, as a program killed mid-statement does,
// stops within seconds instead of running on with its locks.

import CLibPQ
import Foundation
import TestSupport
import Testing

@testable import Postgres

@Test func abandonedStatementStops() throws {
  let suite = "PostgresTests.ClientCheck"
  let observer = try TestDatabase.connect(suite: suite)
  defer { observer.close() }
  let client = try TestDatabase.connect(suite: suite)
  defer { client.close() }
  #expect(try client.query("SHOW client_connection_check_interval")[0].string(0) == "1s")
  let pid = try client.query("SELECT pg_backend_pid()")[0].int64(0)
  let handle = try #require(client.handle)

  func running() throws -> Bool {
    try observer.query(
      "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
      [.int64(pid)])[0].int64(0) == 1
  }
  func waitUntil(_ seconds: Double, _ condition: () throws -> Bool) throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      if try condition() { return true }
      Thread.sleep(forTimeInterval: 0.05)
    }
    return try condition()
  }

  #expect(PQsendQuery(handle, "SELECT pg_sleep(60)") == 1)
  #expect(try waitUntil(10) { try running() })
  // The socket closes as a killed process's does, with no terminate message before it.
  #expect(shutdown(PQsocket(handle), Int32(SHUT_RDWR)) == 0)
  // The statement would sleep for a minute; the check every second stops it well before.
  #expect(try waitUntil(20) { try !running() })
}
