// A blocking libpq connection: connect, run parameterized statements, read text-format rows.
// One connection belongs to one thread at a time, so the class is deliberately not Sendable.
// SQL text never has values spliced in: values go through PQexecParams parameters.

import CLibPQ
import Foundation

/// A connection to one PostgreSQL database through libpq.
public final class Connection {
  /// The libpq connection, nil once closed.
  private(set) var handle: OpaquePointer?
  /// The configuration this connection was opened with.
  public let config: ConnectionConfig
  /// The server actually reached, as libpq resolved it (socket or host, port, database).
  public let target: String
  /// Counter that names nested-transaction savepoints uniquely on this connection.
  var savepointCounter = 0

  /// Opens a connection, sets the client encoding to UTF8 and has the server check the client
  /// while a statement runs (see ``checkClientWhileRunning()``).
  ///
  /// A failure names the target and suggests a fix. The message never contains the password.
  public init(_ config: ConnectionConfig) throws(PostgresError) {
    self.config = config
    guard let handle = PQconnectdb(config.url) else {
      throw PostgresError(
        kind: .connection, message: "could not allocate a libpq connection (out of memory)",
        target: config.displayTarget)
    }
    let target = Connection.describeTarget(of: handle) ?? config.displayTarget
    guard PQstatus(handle) == CONNECTION_OK else {
      let libpqMessage = config.redacted(
        PostgresError.trimmed(String(cString: PQerrorMessage(handle))))
      let needsPassword = PQconnectionNeedsPassword(handle) != 0
      PQfinish(handle)
      if ConnectionConfig.parse(config.url) == nil {
        throw PostgresError(
          kind: .connection, message: "invalid connection string", detail: libpqMessage,
          hint: "check the syntax of DATABASE_URL: postgresql://user:password@host:port/database "
            + "or key=value pairs", target: config.displayTarget)
      }
      throw PostgresError(
        kind: .connection,
        message: "could not connect to \(target)",
        detail: libpqMessage,
        hint: PostgresError.connectionHint(
          libpqMessage: libpqMessage, needsPassword: needsPassword),
        target: target)
    }
    self.handle = handle
    self.target = target
    PQsetNoticeProcessor(handle, { _, _ in }, nil)
    if PQsetClientEncoding(handle, "UTF8") != 0 {
      let message = PostgresError.trimmed(String(cString: PQerrorMessage(handle)))
      close()
      throw PostgresError(
        kind: .connection, message: "could not set client_encoding to UTF8: \(message)",
        target: target)
    }
    do {
      try checkClientWhileRunning()
    } catch {
      close()
      throw error
    }
  }

  /// The interval, in milliseconds, at which the server checks during a statement that this
  /// client is still connected.
  static let clientCheckMilliseconds = 1_000

  /// Has the server check the client's socket every second while a statement runs (PostgreSQL
  /// 14 and later). A program ended by Ctrl-C or a kill then has its statement stopped, and its
  /// locks released, within about a second, instead of when the statement ends.
  private func checkClientWhileRunning() throws(PostgresError) {
    guard let handle, PQserverVersion(handle) >= 140_000 else { return }
    try execute(
      "SET client_connection_check_interval = \(Connection.clientCheckMilliseconds)")
  }

  deinit {
    if let handle { PQfinish(handle) }
  }

  /// Closes the connection. Later calls on it throw; closing twice does nothing.
  public func close() {
    if let handle { PQfinish(handle) }
    handle = nil
  }

  /// Whether the server side of the connection is gone (the server restarted, or the backend was
  /// terminated), so that only ``reconnect()`` can make it usable again. False once closed.
  public var isLost: Bool {
    guard let handle else { return false }
    return PQstatus(handle) != CONNECTION_OK
  }

  /// Opens the connection again with the same settings (PQreset) and sets the client encoding
  /// to UTF8 again. Session state such as LISTEN, prepared statements and temporary tables is
  /// gone afterwards. Throws when the server cannot be reached yet; the caller may try again.
  public func reconnect() throws(PostgresError) {
    let handle = try liveHandle()
    PQreset(handle)
    savepointCounter = 0
    guard PQstatus(handle) == CONNECTION_OK else {
      throw PostgresError(
        kind: .connection, message: "could not reconnect to \(target)",
        detail: config.redacted(PostgresError.trimmed(String(cString: PQerrorMessage(handle)))),
        hint: "is the server running? start it with `adpilot db start`", target: target)
    }
    if PQsetClientEncoding(handle, "UTF8") != 0 {
      let message = PostgresError.trimmed(String(cString: PQerrorMessage(handle)))
      throw PostgresError(
        kind: .connection, message: "could not set client_encoding to UTF8: \(message)",
        target: target)
    }
    try checkClientWhileRunning()
  }

  /// Runs one statement (or, without parameters, a script of several) and returns the number of
  /// rows it affected, 0 for statements that affect none.
  @discardableResult
  public func execute(_ sql: String, _ parameters: [PostgresValue] = []) throws(PostgresError)
    -> Int
  {
    let result = try run(sql, parameters)
    return Int(String(cString: PQcmdTuples(result.pointer))) ?? 0
  }

  /// Runs a query and returns all its rows in text format.
  public func query(_ sql: String, _ parameters: [PostgresValue] = []) throws(PostgresError)
    -> [Row]
  {
    let result = try run(sql, parameters)
    let count = PQntuples(result.pointer)
    return (0..<count).map { Row(result: result, row: $0) }
  }

  /// Prepares `sql` as the named statement `name` on this connection, for
  /// ``queryPrepared(_:_:)`` to run without parsing and planning it again. Parameter types are
  /// inferred by the server, so give casts in `sql` where they are ambiguous.
  public func prepare(_ name: String, _ sql: String) throws(PostgresError) {
    let handle = try liveHandle()
    let pointer = PQprepare(handle, name, sql, 0, nil)
    let result = QueryResult(pointer)
    guard PQresultStatus(result.pointer) == PGRES_COMMAND_OK else {
      throw PostgresError.fromResult(pointer, connection: handle, kind: .query, target: target)
    }
  }

  /// Runs the statement prepared as `name` and returns all its rows in text format.
  public func queryPrepared(_ name: String, _ parameters: [PostgresValue] = [])
    throws(PostgresError) -> [Row]
  {
    let handle = try liveHandle()
    try checkParameterCount(parameters)
    let pointer = Connection.withParameters(parameters) { count, _, values, lengths, formats in
      PQexecPrepared(handle, name, count, values, lengths, formats, 0)
    }
    let result = QueryResult(pointer)
    switch PQresultStatus(pointer) {
    case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
      let rows = PQntuples(result.pointer)
      return (0..<rows).map { Row(result: result, row: $0) }
    default:
      throw PostgresError.fromResult(pointer, connection: handle, kind: .query, target: target)
    }
  }

  /// Returns the connection handle, or throws if the connection was closed.
  func liveHandle() throws(PostgresError) -> OpaquePointer {
    guard let handle else {
      throw PostgresError(
        kind: .query, message: "connection is closed", hint: "open a new Connection",
        target: target)
    }
    return handle
  }

  /// Sends a statement and checks that it completed; COPY statements are rejected here because
  /// they need `copyIn` or `copyOut`.
  func run(_ sql: String, _ parameters: [PostgresValue]) throws(PostgresError) -> QueryResult {
    let handle = try liveHandle()
    try checkParameterCount(parameters)
    let pointer =
      parameters.isEmpty
      ? PQexec(handle, sql)
      : Connection.withParameters(parameters) { count, types, values, lengths, formats in
        PQexecParams(handle, sql, count, types, values, lengths, formats, 0)
      }
    let result = QueryResult(pointer)
    switch PQresultStatus(pointer) {
    case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
      return result
    case PGRES_COPY_IN, PGRES_COPY_OUT:
      abandonCopy(handle, PQresultStatus(pointer))
      throw PostgresError(
        kind: .query, message: "COPY statements cannot run through execute or query",
        hint: "use copyIn for COPY ... FROM STDIN and copyOut for COPY ... TO STDOUT",
        target: target)
    default:
      throw PostgresError.fromResult(pointer, connection: handle, kind: .query, target: target)
    }
  }

  /// Throws when `parameters` are more than the protocol's 65,535.
  private func checkParameterCount(_ parameters: [PostgresValue]) throws(PostgresError) {
    guard parameters.count <= Int(UInt16.max) else {
      throw PostgresError(
        kind: .query, message: "too many parameters: \(parameters.count), at most 65535",
        hint: "pass large lists as one array parameter", target: target)
    }
  }

  /// Calls `body` with the count, types, values, lengths and formats libpq takes for
  /// `parameters`, the values in one contiguous byte buffer with a NUL after each.
  private static func withParameters(
    _ parameters: [PostgresValue],
    _ body: (
      Int32, [Oid], [UnsafePointer<CChar>?], [Int32], [Int32]
    ) -> OpaquePointer?
  ) -> OpaquePointer? {
    let encoded = parameters.map { $0.encoded() }
    var storage: [UInt8] = [0]
    var offsets: [Int?] = []
    for parameter in encoded {
      guard let bytes = parameter.bytes else {
        offsets.append(nil)
        continue
      }
      offsets.append(storage.count)
      storage.append(contentsOf: bytes)
      storage.append(0)
    }
    let types = encoded.map(\.type)
    let lengths = encoded.map { Int32($0.bytes?.count ?? 0) }
    let formats = encoded.map(\.format)
    return storage.withUnsafeBytes { buffer -> OpaquePointer? in
      guard let base = buffer.baseAddress else { return nil }
      let values: [UnsafePointer<CChar>?] = offsets.map { offset in
        offset.map { (base + $0).assumingMemoryBound(to: CChar.self) }
      }
      return body(Int32(parameters.count), types, values, lengths, formats)
    }
  }

  /// Ends a COPY that was started by mistake so that the connection stays usable.
  private func abandonCopy(_ handle: OpaquePointer, _ status: ExecStatusType) {
    if status == PGRES_COPY_IN {
      PQputCopyEnd(handle, "COPY must use copyIn")
    } else {
      var buffer: UnsafeMutablePointer<CChar>?
      while PQgetCopyData(handle, &buffer, 0) >= 0 {
        if let buffer { PQfreemem(buffer) }
        buffer = nil
      }
    }
    while let extra = PQgetResult(handle) { PQclear(extra) }
  }

  /// Describes the server a libpq connection points at, as libpq resolved it.
  static func describeTarget(of handle: OpaquePointer) -> String? {
    func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
      pointer.map { String(cString: $0) }
    }
    guard let host = string(PQhost(handle)) else { return nil }
    return ConnectionConfig.describe(
      host: host, port: string(PQport(handle)), database: string(PQdb(handle)),
      user: string(PQuser(handle)))
  }
}

@available(*, unavailable, message: "a Connection belongs to one thread; open one per task")
extension Connection: Sendable {}

/// Owner of a PGresult, cleared when the last row referring to it goes away.
final class QueryResult {
  let pointer: OpaquePointer?

  init(_ pointer: OpaquePointer?) {
    self.pointer = pointer
  }

  deinit {
    if let pointer { PQclear(pointer) }
  }
}
