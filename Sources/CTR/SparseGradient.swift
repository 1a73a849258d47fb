// Gradients of the embedding rows one step touched, accumulated per row in first-touch order.
// Memory is one Int32 slot per table row plus the touched rows; nothing is dense over the table.

/// Per-row embedding gradients of one step.
struct SparseGradient {
  /// The row width.
  let width: Int
  /// The number of rows of the table.
  var tableRows: Int { slotOfRow.count }
  /// For each table row, its index in `rows`, or -1 when the step has not touched it.
  private var slotOfRow: [Int32]
  /// The touched rows, in first-touch order.
  private(set) var rows: [Int32] = []
  /// The gradients, `rows.count x width`.
  var values: [Float] = []

  init(tableRows: Int, width: Int) {
    self.width = width
    slotOfRow = [Int32](repeating: -1, count: tableRows)
  }

  /// Returns the slot of `row`, adding a zero gradient for it on first touch.
  mutating func slot(for row: Int32) -> Int {
    let existing = slotOfRow[Int(row)]
    if existing >= 0 { return Int(existing) }
    let slot = rows.count
    slotOfRow[Int(row)] = Int32(slot)
    rows.append(row)
    values.append(contentsOf: repeatElement(0, count: width))
    return slot
  }

  /// Adds `gradient [width]` to the row's gradient.
  mutating func add(row: Int32, _ gradient: UnsafePointer<Float>) {
    let base = slot(for: row) * width
    values.withUnsafeMutableBufferPointer { values in
      for index in 0..<width {
        values[base + index] += gradient[index]
      }
    }
  }

  /// Adds `scale` times every row gradient of `other`, in its first-touch order.
  mutating func add(_ other: SparseGradient, scale: Float) {
    var scaled = [Float](repeating: 0, count: width)
    for (slot, row) in other.rows.enumerated() {
      for index in 0..<width {
        scaled[index] = scale * other.values[slot * width + index]
      }
      scaled.withUnsafeBufferPointer { scaled in
        guard let scaled = scaled.baseAddress else { return }
        add(row: row, scaled)
      }
    }
  }

  /// Adds one value to a row of width 1.
  mutating func add(row: Int32, _ gradient: Float) {
    values[slot(for: row)] += gradient
  }

  /// Forgets every touched row, keeping the storage.
  mutating func reset() {
    for row in rows {
      slotOfRow[Int(row)] = -1
    }
    rows.removeAll(keepingCapacity: true)
    values.removeAll(keepingCapacity: true)
  }

  /// Returns true when every gradient value is finite.
  var isFinite: Bool {
    values.allSatisfy { $0.isFinite }
  }
}
