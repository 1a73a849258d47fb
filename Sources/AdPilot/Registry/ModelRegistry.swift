// The model registry in adpilot.models and adpilot.model_aliases: stores trained models with
// their feature spec, metrics and checksum, and moves a name's `champion` alias. It never
// registers a model with NaN or infinite weights or validation log loss.

import CTR
import Foundation
import Postgres

/// One registered model, without its weights.
public struct ModelRecord: Sendable, Equatable {
  public var id: String
  public var name: String
  public var version: Int
  public var kind: String
  public var checksum: String
  public var validationLogLoss: Double?
  public var createdAt: String
}

/// Reads and writes the model registry.
public struct ModelRegistry {
  let connection: Connection

  public init(connection: Connection) {
    self.connection = connection
  }

  /// Inserts `model` as the next version of `name` and returns its record, or returns the
  /// record of an identical model already registered under `name`.
  ///
  /// The caller holds the name's advisory lock, so versions do not race.
  public func register(
    _ model: any ClickModel, name: String, metrics: [String: Double],
    hyperparameters: [String: String], validationLogLoss: Double,
    trainWindow: (from: Date, to: Date)?
  ) throws -> ModelRecord {
    guard model.weightsAreFinite, validationLogLoss.isFinite else {
      throw PipelineError(
        "model '\(name)' has NaN or infinite weights or validation log loss "
          + "(\(validationLogLoss)); it was not registered. Lower the learning rate and retrain")
    }
    let weights = model.serialized()
    let checksum = Self.checksum(weights)
    let metricsJSON = try Self.json(metrics.mapValues { $0.isFinite ? $0 : -1 })
    let hyperJSON = try Self.json(hyperparameters)
    // Retraining on the same rows with the same seed and settings gives the same bytes: keep
    // one copy. Other settings that happen to give the same weights get their own version, so
    // the stored settings and metrics always describe the run that printed the id.
    let existing = try connection.query(
      """
      SELECT id FROM adpilot.models
      WHERE name = $1 AND checksum = $2 AND weights = $3 AND hyperparameters = $4::jsonb
        AND metrics = $5::jsonb
      """,
      [.text(name), .text(checksum), .bytea(weights), .jsonb(hyperJSON), .jsonb(metricsJSON)])
    if let id = try existing.first?.string(0), let record = try record(id: id) {
      return record
    }
    let version =
      try connection.query(
        "SELECT coalesce(max(version), 0) + 1 FROM adpilot.models WHERE name = $1",
        [.text(name)]
      ).first?.int64(0) ?? 1
    let id = "\(name)-v\(version)-\(checksum.prefix(8))"
    let spec = try String(decoding: JSONEncoder().encode(model.spec), as: UTF8.self)
    let window: [PostgresValue] =
      trainWindow.map { [.timestamptz($0.from), .timestamptz($0.to)] } ?? [.null, .null]
    _ = try connection.execute(
      """
      INSERT INTO adpilot.models
          (id, name, version, kind, weights, checksum, feature_spec, hyperparameters, metrics,
           validation_log_loss, train_from, train_to)
      VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9::jsonb, $10, $11, $12)
      """,
      [
        .text(id), .text(name), .int64(version), .text(model.kind.rawValue), .bytea(weights),
        .text(checksum), .jsonb(spec), .jsonb(hyperJSON), .jsonb(metricsJSON),
        .float8(validationLogLoss),
      ] + window)
    guard let record = try record(id: id) else {
      throw PipelineError("model \(id) was not found right after it was registered")
    }
    return record
  }

  /// Returns the record of model `id`, or nil.
  public func record(id: String) throws -> ModelRecord? {
    try connection.query(
      """
      SELECT id, name, version, kind, checksum, validation_log_loss, created_at::text
      FROM adpilot.models
      WHERE id = $1
      """, [.text(id)]
    ).first.map(Self.decodeRecord)
  }

  /// Lists the registered models, newest first, optionally of one name.
  public func list(name: String? = nil) throws -> [ModelRecord] {
    try connection.query(
      """
      SELECT id, name, version, kind, checksum, validation_log_loss, created_at::text
      FROM adpilot.models
      WHERE $1::text IS NULL OR name = $1
      ORDER BY name, version DESC
      """, [name.map(PostgresValue.text) ?? .null]
    ).map(Self.decodeRecord)
  }

  /// Returns the model id the alias points at, or nil when the name has no such alias.
  public func alias(_ alias: String, of name: String) throws -> String? {
    try connection.query(
      "SELECT model_id FROM adpilot.model_aliases WHERE name = $1 AND alias = $2",
      [.text(name), .text(alias)]
    ).first?.string(0)
  }

  /// Returns the id of the model that `name`'s champion alias points at, or throws the error of
  /// ``missingChampion(_:)`` that gives the reason there is none.
  public func championId(of name: String) throws -> String {
    guard let id = try alias("champion", of: name) else { throw try missingChampion(name) }
    return id
  }

  /// Points `alias` of `name` at `modelId`, recording the move and its reason in the history.
  public func setAlias(_ alias: String, of name: String, to modelId: String, reason: String)
    throws
  {
    _ = try connection.execute(
      """
      INSERT INTO adpilot.model_aliases (name, alias, model_id)
      VALUES ($1, $2, $3)
      ON CONFLICT (name, alias) DO UPDATE SET model_id = excluded.model_id, set_at = now()
      """, [.text(name), .text(alias), .text(modelId)])
    _ = try connection.execute(
      """
      INSERT INTO adpilot.model_alias_history (name, alias, model_id, reason)
      VALUES ($1, $2, $3, $4)
      """, [.text(name), .text(alias), .text(modelId), .text(reason)])
  }

  /// Makes model `id` the champion of its name by hand and returns its record and the id of
  /// the champion it replaced (nil for none).
  ///
  /// The model must load with a matching checksum. Where a data set has the model's name, the
  /// model's feature spec must equal the data set's, because that data set's requests are
  /// scored with its champion. The move runs in one transaction under the name's advisory lock,
  /// the lock training takes to register, and the history records it with `reason`.
  public func promote(id: String, reason: String) throws -> (
    record: ModelRecord, previous: String?
  ) {
    // Line and paragraph separators, control and format characters (bidirectional overrides,
    // zero-width spaces) could break or disguise a history line, so none may appear.
    let trimmed = reason.trimmingCharacters(in: .whitespacesAndNewlines)
    let hidden: Set<Unicode.GeneralCategory> = [
      .control, .format, .lineSeparator, .paragraphSeparator,
    ]
    let fix = "say in a few words, on one line, why the model should serve"
    guard !trimmed.isEmpty else {
      throw PipelineError("promotion reason is empty or only spaces; \(fix)")
    }
    if let index = trimmed.unicodeScalars.firstIndex(where: {
      hidden.contains($0.properties.generalCategory)
    }) {
      let code = String(format: "U+%04X", trimmed.unicodeScalars[index].value)
      let position =
        trimmed.unicodeScalars.distance(
          from: trimmed.unicodeScalars.startIndex, to: index) + 1
      throw PipelineError(
        "promotion reason has \(code), a line break, control or hidden formatting character, at "
          + "character \(position); \(fix)")
    }
    guard trimmed.unicodeScalars.count <= 500 else {
      throw PipelineError(
        "promotion reason has \(trimmed.unicodeScalars.count) characters, more than 500; \(fix)")
    }
    return try connection.transaction {
      guard let found = try record(id: id) else {
        throw PipelineError(
          "model '\(id)' not found in adpilot.models; list models with `adpilot models`")
      }
      try connection.advisoryXactLock(Connection.advisoryKey("adpilot.model:\(found.name)"))
      let model = try load(id: id)
      let datasets = try connection.query(
        "SELECT 1 FROM adpilot.datasets WHERE name = $1", [.text(found.name)])
      if !datasets.isEmpty {
        let dataset = try loadDataset(connection, name: found.name)
        guard dataset.spec == model.spec else {
          throw PipelineError(
            "model '\(id)' has another feature spec than data set '\(found.name)', whose "
              + "requests its champion scores; promote a model trained on the data set's "
              + "current layout")
        }
      }
      let previous = try alias("champion", of: found.name)
      guard previous != id else {
        throw PipelineError(
          "model '\(id)' is already the champion of '\(found.name)'; see its moves with "
            + "`adpilot models history --name \(found.name)`")
      }
      try setAlias("champion", of: found.name, to: id, reason: "promoted by hand: \(trimmed)")
      return (found, previous)
    }
  }

  /// One move of an alias, as `adpilot models history` lists it.
  public struct AliasMove: Sendable, Equatable {
    public var setAt: String
    public var alias: String
    public var modelId: String
    public var reason: String
  }

  /// Returns every move of the aliases of `name`, oldest first.
  public func history(of name: String) throws -> [AliasMove] {
    try connection.query(
      """
      SELECT set_at::text, alias, model_id, reason
      FROM adpilot.model_alias_history
      WHERE name = $1
      ORDER BY set_at, alias
      """, [.text(name)]
    ).map { row in
      AliasMove(
        setAt: try row.string(0), alias: try row.string(1), modelId: try row.string(2),
        reason: try row.string(3))
    }
  }

  /// Returns the error for scoring under `name` when it has no champion. When no data set or
  /// model has the name, the error lists the loaded data sets; otherwise it asks for training.
  public func missingChampion(_ name: String) throws -> PipelineError {
    let known = try connection.query("SELECT name FROM adpilot.datasets ORDER BY name")
      .map { try $0.string(0) }
    let hasModels = try !list(name: name).isEmpty
    guard known.contains(name) || hasModels else {
      return PipelineError(
        "no data set or model is named '\(name)'; loaded data sets: "
          + (known.isEmpty ? "none" : known.joined(separator: ", "))
          + "; check the name, or load the data set with `adpilot import` or `adpilot generate`")
    }
    if known.contains(name), !hasModels, try !loadDataset(connection, name: name).hasFeatures {
      return PipelineError(
        "data set '\(name)' logs no features (it carries an outside model's pCTR), so no model "
          + "can score its requests; score requests of a data set with features")
    }
    return PipelineError(
      "model name '\(name)' has no champion; train one with `adpilot train --dataset \(name)`")
  }

  /// Loads model `id`, verifying its checksum.
  public func load(id: String) throws -> any ClickModel {
    guard
      let row = try connection.query(
        "SELECT weights, checksum FROM adpilot.models WHERE id = $1", [.text(id)]
      ).first
    else {
      throw PipelineError(
        "model '\(id)' not found in adpilot.models; list models with `adpilot models`")
    }
    let weights = try row.bytes(0)
    let stored = try row.string(1)
    guard Self.checksum(weights) == stored else {
      throw PipelineError(
        "model '\(id)': stored checksum \(stored) does not match its weights; promote another "
          + "model with `adpilot models promote MODEL_ID --reason TEXT`, or train again, which "
          + "replaces a champion that cannot be loaded")
    }
    return try loadModel(weights)
  }

  /// Loads the champion of `name`, or returns nil when the name has none.
  public func champion(of name: String) throws -> (record: ModelRecord, model: any ClickModel)? {
    guard let id = try alias("champion", of: name), let record = try record(id: id) else {
      return nil
    }
    return (record, try load(id: id))
  }

  /// Returns a hex FNV-1a 64 digest of `bytes`, stored beside the weights.
  public static func checksum(_ bytes: [UInt8]) -> String {
    let hex = String(fnv1a64(bytes), radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
  }

  private static func decodeRecord(_ row: Row) throws -> ModelRecord {
    ModelRecord(
      id: try row.string(0), name: try row.string(1), version: Int(try row.int64(2)),
      kind: try row.string(3), checksum: try row.string(4),
      validationLogLoss: try row.optionalDouble(5), createdAt: try row.string(6))
  }

  private static func json<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
  }
}
