// LISTEN/NOTIFY: subscribe to channels, send notifications, and wait for one with a timeout by
// polling the connection's socket. Channel names are quoted by libpq, never spliced raw.

import CLibPQ
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

extension Connection {
  /// Subscribes this connection to `channel` (LISTEN with the name quoted as an identifier).
  public func listen(_ channel: String) throws(PostgresError) {
    try execute("LISTEN \(try quoteIdentifier(channel))")
  }

  /// Sends `payload` on `channel` through pg_notify. Inside a transaction it is delivered at
  /// COMMIT.
  public func notify(_ channel: String, _ payload: String) throws(PostgresError) {
    _ = try query("SELECT pg_notify($1, $2)", [.text(channel), .text(payload)])
  }

  /// Waits up to `timeout` seconds for a notification on a channel this connection listens to,
  /// and returns it, or nil on timeout or when a signal interrupts the wait. Notifications that
  /// arrived earlier are returned first.
  public func waitForNotification(timeout: Double) throws(PostgresError)
    -> (channel: String, payload: String)?
  {
    let handle = try liveHandle()
    let deadline = Date().addingTimeInterval(max(0, timeout))
    while true {
      guard PQconsumeInput(handle) == 1 else {
        throw PostgresError.fromResult(nil, connection: handle, kind: .query, target: target)
      }
      if let notification = PQnotifies(handle) {
        defer { PQfreemem(notification) }
        return (
          channel: String(cString: notification.pointee.relname),
          payload: String(cString: notification.pointee.extra)
        )
      }
      let remaining = deadline.timeIntervalSinceNow
      if remaining <= 0 { return nil }
      var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
      let milliseconds = Int32(min(remaining * 1000, Double(Int32.max)).rounded(.up))
      if poll(&descriptor, 1, milliseconds) < 0 {
        // A signal ends the wait early, so that its handler's caller can react at once.
        if errno == EINTR { return nil }
        throw PostgresError(
          kind: .query, message: "poll on the connection socket failed (errno \(errno))",
          target: target)
      }
    }
  }

  /// Quotes `name` as an SQL identifier with PQescapeIdentifier.
  public func quoteIdentifier(_ name: String) throws(PostgresError) -> String {
    let handle = try liveHandle()
    guard let quoted = PQescapeIdentifier(handle, name, name.utf8.count) else {
      throw PostgresError.fromResult(nil, connection: handle, kind: .query, target: target)
    }
    defer { PQfreemem(quoted) }
    return String(cString: quoted)
  }
}
