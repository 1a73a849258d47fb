// Dense kernels on row-major Float buffers: multiply-accumulate, transpose, column sums.
// Each output row is computed by the same sequence of fused multiply-adds whatever the number
// of rows, so results never depend on batch size. No allocation happens here.

/// Row-major matrix kernels over raw pointers. Callers own the buffers and their sizes.
enum Kernels {
  typealias Vector = SIMD16<Float>
  static let width = 16

  /// Adds `a * b` to `c`: shapes `a [m x k]`, `b [k x n]`, `c [m x n]`.
  ///
  /// For each output element the products are added in ascending `k`, each with one fused
  /// multiply-add, starting from the value already in `c`. The `k` range is cut into tiles that
  /// keep a slice of `b` in cache, and rows go four at a time when possible. Both change the
  /// schedule but not that order.
  static func multiplyAccumulate(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    m: Int, k: Int, n: Int
  ) {
    let tile = 256
    var start = 0
    while start < k {
      let depth = min(tile, k - start)
      multiplyAccumulateTile(
        a + start, rowStride: k, b + start * n, c, m: m, k: depth, n: n)
      start += depth
    }
  }

  /// Adds the product over one `k` tile: `a` rows are `rowStride` apart, `b` is `[k x n]`.
  private static func multiplyAccumulateTile(
    _ a: UnsafePointer<Float>, rowStride: Int, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, m: Int, k: Int, n: Int
  ) {
    let vectorColumns = n - n % width
    var row = 0
    while row + 4 <= m {
      var column = 0
      while column < vectorColumns {
        blockOfFour(
          a + row * rowStride, rowStride: rowStride, b, c + row * n, k: k, n: n, column: column)
        column += width
      }
      for r in row..<(row + 4) {
        scalarColumns(a + r * rowStride, b, c + r * n, k: k, n: n, from: vectorColumns)
      }
      row += 4
    }
    while row < m {
      var column = 0
      while column < vectorColumns {
        blockOfOne(a + row * rowStride, b, c + row * n, k: k, n: n, column: column)
        column += width
      }
      scalarColumns(a + row * rowStride, b, c + row * n, k: k, n: n, from: vectorColumns)
      row += 1
    }
  }

  @inline(__always)
  private static func load(_ pointer: UnsafePointer<Float>) -> Vector {
    UnsafeRawPointer(pointer).loadUnaligned(as: Vector.self)
  }

  @inline(__always)
  private static func store(_ value: Vector, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Vector.self)
  }

  /// Sixteen columns of four rows: `a` points at row 0 of the block, `c` likewise.
  @inline(__always)
  private static func blockOfFour(
    _ a: UnsafePointer<Float>, rowStride: Int, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, k: Int, n: Int, column: Int
  ) {
    var c0 = load(c + column)
    var c1 = load(c + n + column)
    var c2 = load(c + 2 * n + column)
    var c3 = load(c + 3 * n + column)
    for index in 0..<k {
      let bv = load(b + index * n + column)
      c0 = c0.addingProduct(a[index], bv)
      c1 = c1.addingProduct(a[rowStride + index], bv)
      c2 = c2.addingProduct(a[2 * rowStride + index], bv)
      c3 = c3.addingProduct(a[3 * rowStride + index], bv)
    }
    store(c0, c + column)
    store(c1, c + n + column)
    store(c2, c + 2 * n + column)
    store(c3, c + 3 * n + column)
  }

  @inline(__always)
  private static func blockOfOne(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    k: Int, n: Int, column: Int
  ) {
    var c0 = load(c + column)
    for index in 0..<k {
      c0 = c0.addingProduct(a[index], load(b + index * n + column))
    }
    store(c0, c + column)
  }

  /// Computes the columns past the last full vector of one row, in the same ascending-`k` order.
  @inline(__always)
  private static func scalarColumns(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    k: Int, n: Int, from start: Int
  ) {
    for column in start..<n {
      var sum = c[column]
      for index in 0..<k {
        sum = sum.addingProduct(a[index], b[index * n + column])
      }
      c[column] = sum
    }
  }

  /// Writes the transpose of `source [rows x columns]` into `target [columns x rows]`.
  static func transpose(
    _ source: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>, rows: Int, columns: Int
  ) {
    let tile = 32
    var rowStart = 0
    while rowStart < rows {
      let rowEnd = min(rowStart + tile, rows)
      var columnStart = 0
      while columnStart < columns {
        let columnEnd = min(columnStart + tile, columns)
        for r in rowStart..<rowEnd {
          for c in columnStart..<columnEnd {
            target[c * rows + r] = source[r * columns + c]
          }
        }
        columnStart = columnEnd
      }
      rowStart = rowEnd
    }
  }

  /// Adds the column sums of `source [rows x columns]` to `sums [columns]`, in row order.
  static func addColumnSums(
    _ source: UnsafePointer<Float>, _ sums: UnsafeMutablePointer<Float>, rows: Int, columns: Int
  ) {
    for r in 0..<rows {
      let row = source + r * columns
      for c in 0..<columns {
        sums[c] += row[c]
      }
    }
  }
}
