// Gradients of the embedding rows one step touched, accumulated per row in first-touch order, or
// merged from several threads' gradients in ascending row order.
// Memory is one Int32 slot per table row plus the touched rows; nothing is dense over the table.

import Dispatch

/// Per-row embedding gradients of one step.
struct SparseGradient {
  /// The row width.
  let width: Int
  /// The number of rows of the table.
  var tableRows: Int { slotOfRow.count }
  /// For each table row, its index in `rows`, or -1 when the step has not touched it.
  private var slotOfRow: [Int32]
  /// The touched rows, in first-touch order, or ascending after ``merge(_:weights:threads:)``.
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
  ///
  /// Eight elements go at a time, each with the same single addition as the scalar tail.
  mutating func add(row: Int32, _ gradient: UnsafePointer<Float>) {
    typealias Lanes = SIMD8<Float>
    let base = slot(for: row) * width
    let width = self.width
    values.withUnsafeMutableBufferPointer { values in
      guard let target = values.baseAddress.map({ $0 + base }) else { return }
      var index = 0
      while index + 8 <= width {
        let sum =
          UnsafeRawPointer(target + index).loadUnaligned(as: Lanes.self)
          + UnsafeRawPointer(gradient + index).loadUnaligned(as: Lanes.self)
        UnsafeMutableRawPointer(target + index).storeBytes(of: sum, as: Lanes.self)
        index += 8
      }
      while index < width {
        target[index] += gradient[index]
        index += 1
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

  /// Replaces this gradient with the weighted sum of `parts`, holding the touched rows in
  /// ascending row order.
  ///
  /// Each row's value is `0 + w0 * g0 + w1 * g1 + ...` over the parts that touched it, in part
  /// order: the operations ``add(_:scale:)`` performs one part after another, so the values are
  /// the same and only the order of the rows differs. Workers take contiguous ranges of table
  /// rows, so no two of them write the same row, and the result does not depend on `threads`.
  mutating func merge(_ parts: [SparseGradient], weights: [Float], threads: Int) {
    precondition(parts.count == weights.count, "one weight per part")
    reset()
    let tableRows = self.tableRows
    let width = self.width
    // A share scans at least 4096 table rows, so a small table is merged on one thread.
    let shares = max(1, min(threads, tableRows / 4096))
    let bounds = (0...shares).map { tableRows * $0 / shares }
    // The touched rows of each share, ascending.
    var shareRows = [[Int32]](repeating: [], count: shares)
    shareRows.withUnsafeMutableBufferPointer { shareRows in
      guard let output = shareRows.baseAddress else { return }
      let slots = UncheckedPointer(output)
      DispatchQueue.concurrentPerform(iterations: shares) { share in
        var found: [Int32] = []
        for row in bounds[share]..<bounds[share + 1]
        where parts.contains(where: { $0.slotOfRow[row] >= 0 }) {
          found.append(Int32(row))
        }
        slots.pointer[share] = found
      }
    }

    // Slots follow the shares' order, so the rows stay ascending.
    var firstSlot = [Int](repeating: 0, count: shares + 1)
    for share in 0..<shares {
      firstSlot[share + 1] = firstSlot[share] + shareRows[share].count
      rows.append(contentsOf: shareRows[share])
    }
    values.append(contentsOf: repeatElement(0, count: rows.count * width))

    // Each share writes the slots and values of its own rows.
    let (foundRows, starts) = (shareRows, firstSlot)
    slotOfRow.withUnsafeMutableBufferPointer { slotOfRow in
      values.withUnsafeMutableBufferPointer { values in
        guard let slotOfRow = slotOfRow.baseAddress, let values = values.baseAddress else {
          return
        }
        let (slotTarget, valueTarget) = (UncheckedPointer(slotOfRow), UncheckedPointer(values))
        DispatchQueue.concurrentPerform(iterations: shares) { share in
          for (offset, row) in foundRows[share].enumerated() {
            let slot = starts[share] + offset
            slotTarget.pointer[Int(row)] = Int32(slot)
            let target = valueTarget.pointer + slot * width
            for (part, gradient) in parts.enumerated() {
              let source = Int(gradient.slotOfRow[Int(row)])
              guard source >= 0 else { continue }
              let weight = weights[part]
              for index in 0..<width {
                target[index] += weight * gradient.values[source * width + index]
              }
            }
          }
        }
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

/// A pointer that workers of `DispatchQueue.concurrentPerform` share, each writing only
/// elements no other worker writes.
private struct UncheckedPointer<Element>: @unchecked Sendable {
  let pointer: UnsafeMutablePointer<Element>
  init(_ pointer: UnsafeMutablePointer<Element>) { self.pointer = pointer }
}
