// Dense kernels on row-major Float buffers: multiply-accumulate, transpose, column sums.
// Each output row is computed by the same sequence of fused multiply-adds whatever the number
// of rows, so results never depend on batch size. The kernels allocate nothing.

/// Row-major matrix kernels over raw pointers. Callers own the buffers and their sizes.
enum Kernels {
  typealias Vector = SIMD16<Float>

  /// Returns an array of `count` Floats whose values are whatever the allocator left there.
  ///
  /// For buffers that the caller overwrites completely before reading: zero-filling tens of
  /// megabytes of activations per training step showed up as about a tenth of its time.
  static func uninitializedBuffer(count: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { _, initializedCount in
      initializedCount = count
    }
  }

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
    multiplyAccumulate(a, rowStride: k, depthStride: 1, b, c, m: m, k: k, n: n)
  }

  /// Adds `x^T dy` to `c`: shapes `x [rows x m]`, `dy [rows x n]`, `c [m x n]`, with the same
  /// per-element order as ``multiplyAccumulate(_:_:_:m:k:n:)`` on a transposed copy of `x`,
  /// but reading `x` in place.
  static func multiplyAccumulateTransposed(
    _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    rows: Int, m: Int, n: Int
  ) {
    multiplyAccumulate(x, rowStride: 1, depthStride: m, dy, c, m: m, k: rows, n: n)
  }

  /// Adds `a * b` to `c` where element (i, p) of `a` is `a[i * rowStride + p * depthStride]`.
  private static func multiplyAccumulate(
    _ a: UnsafePointer<Float>, rowStride: Int, depthStride: Int, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, m: Int, k: Int, n: Int
  ) {
    let tile = 256
    var start = 0
    while start < k {
      let depth = min(tile, k - start)
      multiplyAccumulateTile(
        a + start * depthStride, rowStride: rowStride, depthStride: depthStride, b + start * n,
        c, m: m, k: depth, n: n)
      start += depth
    }
  }

  /// Adds the product over one `k` tile: `a` rows are `rowStride` apart, `b` is `[k x n]`.
  ///
  /// Columns go 16 at a time, then one 8-wide and one 4-wide block for the remainder, so that
  /// widths such as 40 or 200 leave at most 3 columns to the scalar loop. Every lane runs the
  /// same ascending-`k` chain of fused multiply-adds as the scalar loop, so the block widths
  /// never change a result.
  private static func multiplyAccumulateTile(
    _ a: UnsafePointer<Float>, rowStride: Int, depthStride: Int, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, m: Int, k: Int, n: Int
  ) {
    let strides = (row: rowStride, depth: depthStride)
    var row = 0
    while row + 4 <= m {
      let rowA = a + row * rowStride
      let rowC = c + row * n
      var column = 0
      while column + 16 <= n {
        blockOfFour(
          rowA, strides, b, rowC, k: k, n: n, column: column, as: Vector.self)
        column += 16
      }
      if column + 8 <= n {
        blockOfFour(
          rowA, strides, b, rowC, k: k, n: n, column: column, as: SIMD8<Float>.self)
        column += 8
      }
      if column + 4 <= n {
        blockOfFour(
          rowA, strides, b, rowC, k: k, n: n, column: column, as: SIMD4<Float>.self)
        column += 4
      }
      for r in 0..<4 {
        scalarColumns(
          rowA + r * rowStride, depthStride: depthStride, b, rowC + r * n, k: k, n: n, from: column)
      }
      row += 4
    }
    while row < m {
      let rowA = a + row * rowStride
      let rowC = c + row * n
      var column = 0
      while column + 16 <= n {
        blockOfOne(
          rowA, depthStride: depthStride, b, rowC, k: k, n: n, column: column, as: Vector.self)
        column += 16
      }
      if column + 8 <= n {
        blockOfOne(
          rowA, depthStride: depthStride, b, rowC, k: k, n: n, column: column, as: SIMD8<Float>.self
        )
        column += 8
      }
      if column + 4 <= n {
        blockOfOne(
          rowA, depthStride: depthStride, b, rowC, k: k, n: n, column: column, as: SIMD4<Float>.self
        )
        column += 4
      }
      scalarColumns(rowA, depthStride: depthStride, b, rowC, k: k, n: n, from: column)
      row += 1
    }
  }

  @inline(__always)
  private static func load<V: SIMD>(_ pointer: UnsafePointer<Float>, as: V.Type) -> V
  where V.Scalar == Float {
    UnsafeRawPointer(pointer).loadUnaligned(as: V.self)
  }

  @inline(__always)
  private static func store<V: SIMD>(_ value: V, _ pointer: UnsafeMutablePointer<Float>)
  where V.Scalar == Float {
    UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: V.self)
  }

  /// Adds the product to one vector of columns of four rows: `a` and `c` point at row 0.
  @inline(__always)
  private static func blockOfFour<V: SIMD>(
    _ a: UnsafePointer<Float>, _ strides: (row: Int, depth: Int), _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, k: Int, n: Int, column: Int, as: V.Type
  ) where V.Scalar == Float {
    var c0 = load(c + column, as: V.self)
    var c1 = load(c + n + column, as: V.self)
    var c2 = load(c + 2 * n + column, as: V.self)
    var c3 = load(c + 3 * n + column, as: V.self)
    let rowStride = strides.row
    for index in 0..<k {
      let bv = load(b + index * n + column, as: V.self)
      let p = a + index * strides.depth
      c0 = c0.addingProduct(p[0], bv)
      c1 = c1.addingProduct(p[rowStride], bv)
      c2 = c2.addingProduct(p[2 * rowStride], bv)
      c3 = c3.addingProduct(p[3 * rowStride], bv)
    }
    store(c0, c + column)
    store(c1, c + n + column)
    store(c2, c + 2 * n + column)
    store(c3, c + 3 * n + column)
  }

  @inline(__always)
  private static func blockOfOne<V: SIMD>(
    _ a: UnsafePointer<Float>, depthStride: Int, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>,
    k: Int, n: Int, column: Int, as: V.Type
  ) where V.Scalar == Float {
    var c0 = load(c + column, as: V.self)
    for index in 0..<k {
      c0 = c0.addingProduct(a[index * depthStride], load(b + index * n + column, as: V.self))
    }
    store(c0, c + column)
  }

  /// Computes the columns from `start` on of one row, in the same ascending-`k` order.
  @inline(__always)
  private static func scalarColumns(
    _ a: UnsafePointer<Float>, depthStride: Int, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, k: Int, n: Int, from start: Int
  ) {
    for column in start..<n {
      var sum = c[column]
      for index in 0..<k {
        sum = sum.addingProduct(a[index * depthStride], b[index * n + column])
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
