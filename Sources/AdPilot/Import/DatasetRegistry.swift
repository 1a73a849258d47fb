// Records a data set's feature spec and validation mode in adpilot.datasets, and names the
// advisory lock that writers replacing a data set's impressions take. It writes one row per data
// set name and never touches the data set's impressions.

import CTR
import Foundation
import Postgres

/// Inserts or replaces the `adpilot.datasets` row of `name`, storing `spec` as JSON.
///
/// `validation` is `time` (validate on a later time window) or `split` (validate on the rows
/// marked `test`). `source` describes where the data came from, for people reading the table.
/// Every writer that replaces the data set's impressions calls it in that transaction, even
/// with an unchanged spec. Training compares the row's `xmin` to tell whether the rows it read
/// were replaced (see `DatasetVersion`). `file`, the file an import loads, is named in the
/// error when rows of other fields are left in the data set.
public func registerDataset(
  _ connection: Connection, name: String, spec: FeatureSpec, validation: String, source: String,
  file: URL? = nil
) throws {
  guard validation == "time" || validation == "split" else {
    throw ImportError(
      file: "adpilot.datasets", message: "dataset '\(name)': invalid validation '\(validation)'",
      fix: "use 'time' or 'split'")
  }
  try checkRemainingRows(connection, name: name, spec: spec, file: file)
  let json = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
  _ = try connection.execute(
    """
    INSERT INTO adpilot.datasets (name, feature_spec, validation, source)
    VALUES ($1, $2::jsonb, $3, $4)
    ON CONFLICT (name) DO UPDATE
    SET feature_spec = EXCLUDED.feature_spec,
        validation = EXCLUDED.validation,
        source = EXCLUDED.source,
        loaded_at = now()
    """,
    [.text(name), .jsonb(json), .text(validation), .text(source)])
}

/// Throws when data set `name` still contains impressions, such as the other split of a one-split
/// import, that were loaded under a spec with other fields than `spec`. The arrays of those
/// rows follow their own format's fields, and training would encode them as `spec`'s.
/// A spec that differs in bucket counts or roles only keeps the rows, because the stored values
/// do not depend on them.
private func checkRemainingRows(
  _ connection: Connection, name: String, spec: FeatureSpec, file: URL?
) throws {
  guard
    let storedText = try connection.query(
      "SELECT feature_spec::text FROM adpilot.datasets WHERE name = $1", [.text(name)]
    ).first?.string(0),
    let stored = try? JSONDecoder().decode(FeatureSpec.self, from: Data(storedText.utf8))
  else { return }
  func fields(_ spec: FeatureSpec) -> [String] {
    spec.categorical.map { "categorical '\($0.name)'" }
      + spec.numeric.map { "numeric '\($0.name)'" }
      + spec.sequence.map { "sequence '\($0.name)'" }
  }
  let (old, new) = (fields(stored), fields(spec))
  guard old != new else { return }
  let remaining = try connection.query(
    """
    SELECT split, count(*) FROM adpilot.impressions
    WHERE dataset = $1 GROUP BY split ORDER BY split
    """, [.text(name)])
  guard !remaining.isEmpty else { return }
  let splits = try remaining.map { "\(try $0.int64(1)) of split '\(try $0.string(0))'" }
  let index =
    zip(old, new).enumerated().first { $0.element.0 != $0.element.1 }?.offset
    ?? min(old.count, new.count)
  let before = index < old.count ? old[index] : "no field"
  let after = index < new.count ? new[index] : "no field"
  throw ImportError(
    file: file?.path ?? "adpilot.datasets",
    message:
      "data set '\(name)' contains rows (\(splits.joined(separator: ", "))) loaded with other "
      + "fields than this file's format: field \(index + 1) is \(before) in those rows but "
      + "\(after) in this format",
    fix: "import the file into another data set with --dataset NAME, or delete those rows "
      + "first with `DELETE FROM adpilot.impressions WHERE dataset = '\(name)'`")
}

/// Takes the transaction-level advisory lock of data set `name` (pg_advisory_xact_lock, which
/// waits). Every writer that replaces a data set's impressions (the importers and the synthetic
/// generator) takes it before its first delete, so two of them run one after the other instead
/// of both deleting the old rows and both inserting. The server releases it at COMMIT or
/// ROLLBACK.
public func lockDataset(_ connection: Connection, name: String) throws {
  try connection.advisoryXactLock(datasetLockKey(name))
}

/// Returns the advisory lock key of data set `name`. The `adpilot.<kind>:` prefix keeps it apart
/// from the keys of model names (`adpilot.model:`) and plan days (`adpilot.plan:`).
public func datasetLockKey(_ name: String) -> Int64 {
  Connection.advisoryKey("adpilot.dataset:" + name)
}

/// Returns a note when the champion of the model name `dataset` was trained on another feature
/// spec than the data set has now, or nil. Scoring the data set's requests fails until it has a
/// champion of its current layout.
public func championLayoutNote(_ connection: Connection, dataset: String) throws -> String? {
  let rows = try connection.query(
    """
    SELECT m.id
    FROM adpilot.model_aliases a
    JOIN adpilot.models m ON m.id = a.model_id
    JOIN adpilot.datasets d ON d.name = a.name
    WHERE a.name = $1 AND a.alias = 'champion' AND m.feature_spec <> d.feature_spec
    """, [.text(dataset)])
  guard let id = try rows.first?.string(0) else { return nil }
  return "note: champion \(id) of '\(dataset)' was trained on another feature spec than the "
    + "data set has now, so `adpilot score` and `adpilot worker` fail on the data set's "
    + "requests; train it again with `adpilot train --dataset \(dataset)`, which replaces that "
    + "champion"
}
