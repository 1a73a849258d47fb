// Dense kernels on row-major Float buffers: multiply-accumulate, transpose, column sums.
// Each output row is computed by the same sequence of fused multiply-adds whatever the number
// of rows, so results never depend on batch size. The only allocation is the buffer that a
// wide product packs `b` into.

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
  /// keep a slice of `b` in cache, and rows go six (then four, two) at a time when possible. A
  /// product of many rows and columns first copies each tile of `b` into narrow panels. These
  /// steps change the schedule but not that order.
  static func multiplyAccumulate(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    m: Int, k: Int, n: Int
  ) {
    multiplyAccumulate(
      a, rowStride: k, depthStride: 1, b, c, m: m, k: k, n: n, overwrite: false, mask: nil)
  }

  /// Writes `a * b` into `c`: shapes as in ``multiplyAccumulate(_:_:_:m:k:n:)``, with the same
  /// result as zeroing `c` and then calling it, but without reading `c` (its old values may be
  /// anything, even NaN).
  ///
  /// With `mask [m x n]`, each element of `c` is then set to 0 where the mask is not positive,
  /// as ``maskByActivation(_:_:count:)`` does: the backward pass of a ReLU whose output is
  /// `mask`. Each block of rows is masked right after it is computed, while it is in cache.
  static func multiply(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    m: Int, k: Int, n: Int, mask: UnsafePointer<Float>? = nil
  ) {
    guard k > 0 else {
      c.update(repeating: 0, count: m * n)
      return
    }
    multiplyAccumulate(
      a, rowStride: k, depthStride: 1, b, c, m: m, k: k, n: n, overwrite: true, mask: mask)
  }

  /// Writes `a * b + bias` into `c`, then replaces negative sums by 0 when `rectify` is true:
  /// the same values as ``multiply(_:_:_:m:k:n:mask:)`` followed by
  /// ``addToRows(_:_:rows:width:rectify:)`` with `bias [n]`, applied to each block right after
  /// it is stored, while it is in cache.
  static func multiply(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    m: Int, k: Int, n: Int, bias: UnsafePointer<Float>, rectify: Bool
  ) {
    guard k > 0 else {
      c.update(repeating: 0, count: m * n)
      addToRows(bias, c, rows: m, width: n, rectify: rectify)
      return
    }
    multiplyAccumulate(
      a, rowStride: k, depthStride: 1, b, c, m: m, k: k, n: n, overwrite: true, mask: nil,
      epilogue: Epilogue(bias: bias, rectify: rectify))
  }

  /// A bias added to each finished sum, then ReLU when `rectify` is true, as in
  /// ``addToRows(_:_:rows:width:rectify:)``.
  struct Epilogue {
    var bias: UnsafePointer<Float>
    var rectify: Bool
  }

  /// Applies `epilogue` to the `count` stored sums at `c`, columns `column ..< column + count`,
  /// while they are still in cache, with the arithmetic of ``addToRows(_:_:rows:width:rectify:)``
  /// written inline. The stored values are read back eight at a time, because ReLU on eight
  /// lanes compiles to one vector select and on wider generic vectors to a scalar loop.
  @inline(__always)
  private static func finishStored(
    _ c: UnsafeMutablePointer<Float>, count: Int, _ epilogue: Epilogue?, _ column: Int
  ) {
    guard let epilogue else { return }
    var j = 0
    while j + 8 <= count {
      let sum =
        load(c + j, as: SIMD8<Float>.self)
        + load(epilogue.bias + column + j, as: SIMD8<Float>.self)
      store(epilogue.rectify ? sum.replacing(with: 0, where: sum .< 0) : sum, c + j)
      j += 8
    }
    while j < count {
      c[j] = finish(c[j], epilogue, column + j)
      j += 1
    }
  }

  /// Returns the finished sum of `column` after `epilogue`.
  @inline(__always)
  private static func finish(_ sum: Float, _ epilogue: Epilogue?, _ column: Int) -> Float {
    guard let epilogue else { return sum }
    let value = sum + epilogue.bias[column]
    return epilogue.rectify && value < 0 ? 0 : value
  }

  /// Adds `x^T dy` to `c`: shapes `x [rows x m]`, `dy [rows x n]`, `c [m x n]`, with the same
  /// per-element order as ``multiplyAccumulate(_:_:_:m:k:n:)`` on a transposed copy of `x`,
  /// but reading `x` in place.
  static func multiplyAccumulateTransposed(
    _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    rows: Int, m: Int, n: Int
  ) {
    multiplyAccumulate(
      x, rowStride: 1, depthStride: m, dy, c, m: m, k: rows, n: n, overwrite: false, mask: nil)
  }

  /// Adds `a * b` to `c`, or writes it when `overwrite`, where row i of `a` starts at
  /// `a + i * rowStride`. Each element's chain goes on from `c`'s value (or starts from 0), so
  /// calls over consecutive slices of `k` give the same result as one call over all of them.
  static func multiplyAccumulate(
    _ a: UnsafePointer<Float>, rowStride: Int, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, m: Int, k: Int, n: Int, overwrite: Bool
  ) {
    multiplyAccumulate(
      a, rowStride: rowStride, depthStride: 1, b, c, m: m, k: k, n: n, overwrite: overwrite,
      mask: nil)
  }

  /// Adds `a * b` to `c` where element (i, p) of `a` is `a[i * rowStride + p * depthStride]`.
  /// With `overwrite`, the first `k` tile starts each sum from 0 in place of `c`'s value. With
  /// `mask`, the last tile masks each finished block of rows.
  private static func multiplyAccumulate(
    _ a: UnsafePointer<Float>, rowStride: Int, depthStride: Int, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, m: Int, k: Int, n: Int, overwrite: Bool,
    mask: UnsafePointer<Float>?, epilogue: Epilogue? = nil
  ) {
    // With k = 0 no tile runs, so an overwriting call must write the empty sums (0) here.
    if k == 0 && overwrite {
      c.update(repeating: 0, count: m * n)
      if let epilogue {
        addToRows(epilogue.bias, c, rows: m, width: n, rectify: epilogue.rectify)
      }
      return
    }
    if m >= Packing.minimumRows && n > Packing.inPlaceColumns {
      multiplyAccumulatePacked(
        a, rowStride: rowStride, depthStride: depthStride, b, c, m: m, k: k, n: n,
        overwrite: overwrite, mask: mask, epilogue: epilogue)
      return
    }
    var start = 0
    while start < k {
      let depth = min(Packing.depth, k - start)
      multiplyAccumulateTile(
        a + start * depthStride, rowStride: rowStride, depthStride: depthStride, b + start * n,
        c, m: m, k: depth, n: n, bRowStride: n, cRowStride: n, overwrite: overwrite && start == 0,
        mask: start + depth == k ? mask : nil, epilogue: start + depth == k ? epilogue : nil)
      start += depth
    }
  }

  /// Tile, panel and block sizes of the packed product.
  enum Packing {
    /// The number of rows of `b` (the `k` range) in one tile.
    static let depth = 256
    /// Products of at most this many columns use the `b` tile in place.
    static let inPlaceColumns = 80

    /// Returns the columns per panel for a product of `columns` columns: 48, the widest block of
    /// six rows, unless that leaves a remainder of 1 to 31 columns, which would go through the
    /// narrow blocks; 32 then. A panel of 256 x 48 Floats (48 KiB) stays in the first-level
    /// cache while a block of rows goes through it.
    static func panelWidth(columns: Int) -> Int {
      let remainder = columns % 48
      return remainder == 0 || remainder >= 32 ? 48 : 32
    }
    /// Rows per block: the block's slice of `a` (up to 192 x 256 Floats) stays in the
    /// second-level cache while it goes through every panel.
    static let blockRows = 192
    /// Products with fewer rows use the `b` tile in place, because each panel would be read too
    /// few times to repay its copy (an estimate that was not tuned).
    static let minimumRows = 48
  }

  /// Computes the same sums as the unpacked path, each element by the same ascending-`k` chain,
  /// with each `k` tile of `b` first copied into panels of ``Packing/panelWidth(columns:)``
  /// contiguous columns. Wide `b` rows are then read at a short fixed stride rather than `n` Floats apart:
  /// at `n = 2048` a column's rows all map to one set of a 64-set first-level cache. Each panel
  /// is read by a block of rows while it is in cache.
  private static func multiplyAccumulatePacked(
    _ a: UnsafePointer<Float>, rowStride: Int, depthStride: Int, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, m: Int, k: Int, n: Int, overwrite: Bool,
    mask: UnsafePointer<Float>?, epilogue: Epilogue?
  ) {
    let width = Packing.panelWidth(columns: n)
    var panels: [(start: Int, width: Int)] = []
    var column = 0
    while column < n {
      // A last remainder of up to a quarter panel joins the panel before it.
      let remaining = n - column
      let panel = remaining <= width + width / 4 ? remaining : width
      panels.append((column, panel))
      column += panel
    }
    let packed = UnsafeMutablePointer<Float>.allocate(capacity: min(k, Packing.depth) * n)
    defer { packed.deallocate() }
    var start = 0
    while start < k {
      let depth = min(Packing.depth, k - start)
      let last = start + depth == k
      // A panel contains its columns of this tile's rows, `width` Floats apart.
      for panel in panels {
        let target = packed + depth * panel.start
        for index in 0..<depth {
          copy(
            b + (start + index) * n + panel.start, target + index * panel.width, count: panel.width)
        }
      }
      var row = 0
      while row < m {
        let rows = min(Packing.blockRows, m - row)
        let rowA = a + row * rowStride + start * depthStride
        let rowC = c + row * n
        for panel in panels {
          let panelEpilogue = epilogue.map {
            Epilogue(bias: $0.bias + panel.start, rectify: $0.rectify)
          }
          multiplyAccumulateTile(
            rowA, rowStride: rowStride, depthStride: depthStride, packed + depth * panel.start,
            rowC + panel.start, m: rows, k: depth, n: panel.width, bRowStride: panel.width,
            cRowStride: n,
            overwrite: overwrite && start == 0, mask: nil, epilogue: last ? panelEpilogue : nil)
        }
        if last, let mask {
          maskByActivation(rowC, mask + row * n, count: rows * n)
        }
        row += rows
      }
      start += depth
    }
  }

  /// Adds the product over one `k` tile: `a` rows are `rowStride` apart, `b` is `[k x n]` with
  /// rows `bRowStride` apart, and `c` is `[m x n]` with rows `cRowStride` apart (`mask` needs `cRowStride == n`).
  ///
  /// Columns go 16 at a time, then one 8-wide and one 4-wide block for the remainder, so that
  /// widths such as 40 or 200 leave at most 3 columns to the scalar loop. With AVX-512, six rows
  /// first take blocks of 32, 40 or 48 columns. Every lane runs the same ascending-`k` chain of
  /// fused multiply-adds as the scalar loop, so the block widths never change a result.
  private static func multiplyAccumulateTile(
    _ a: UnsafePointer<Float>, rowStride: Int, depthStride: Int, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, m: Int, k: Int, n: Int, bRowStride: Int, cRowStride: Int,
    overwrite: Bool,
    mask: UnsafePointer<Float>?, epilogue: Epilogue?
  ) {
    let strides = (row: rowStride, depth: depthStride)
    var row = 0
    // One column whose rows sit next to each other in `a` (a transposed product such as the
    // weight gradient of a layer with one output): 16 rows take one vector, each lane running
    // its row's chain.
    if n == 1 && rowStride == 1 && cRowStride == 1 && epilogue == nil {
      row = adjacentRowsOfOneColumn(
        a, depthStride: depthStride, b, bRowStride: bRowStride, c, m: m, k: k,
        overwrite: overwrite)
      if let mask {
        maskByActivation(c, mask, count: row)
      }
    }
    // Fewer than 4 columns (a layer with one output) use no vector: eight rows then keep eight
    // scalar chains in flight.
    while n < 4 && row + 8 <= m {
      let rowC = c + row * cRowStride
      scalarColumnsOfEight(
        a + row * rowStride, strides, b, rowC, k: k, n: n, bRowStride: bRowStride,
        cRowStride: cRowStride, overwrite: overwrite,
        epilogue: epilogue)
      if let mask {
        maskByActivation(rowC, mask + row * n, count: 8 * n)
      }
      row += 8
    }
    // Six rows by 16 columns keep twelve vector sums in flight, enough to cover the fused
    // multiply-add latency on both pipes.
    while row + 6 <= m {
      let rowA = a + row * rowStride
      let rowC = c + row * cRowStride
      var column = 0
      #if ADPILOT_AVX512
        // A remainder of 8 to 31 columns after a 32-column block joins it, so that its sums
        // are not six chains on their own, which the fused multiply-add latency would bound.
        while column + 32 <= n {
          let rest = n - column - 32
          if rest >= 16 && rest < 32 {
            blockOfSixWithTail(
              rowA, strides, b, rowC, k: k, cRowStride: cRowStride, bRowStride: bRowStride,
              column: column, tail: Vector.self,
              overwrite: overwrite, epilogue: epilogue)
            column += 48
          } else if rest >= 8 && rest < 16 {
            blockOfSixWithTail(
              rowA, strides, b, rowC, k: k, cRowStride: cRowStride, bRowStride: bRowStride,
              column: column,
              tail: SIMD8<Float>.self,
              overwrite: overwrite, epilogue: epilogue)
            column += 40
          } else {
            blockOfSixByTwo(
              rowA, strides, b, rowC, k: k, cRowStride: cRowStride, bRowStride: bRowStride,
              column: column,
              overwrite: overwrite,
              epilogue: epilogue)
            column += 32
          }
        }
      #endif
      while column + 16 <= n {
        blockOfSix(
          rowA, strides, b, rowC, k: k, cRowStride: cRowStride, bRowStride: bRowStride,
          column: column, as: Vector.self,
          overwrite: overwrite,
          epilogue: epilogue)
        column += 16
      }
      if column + 8 <= n {
        blockOfSix(
          rowA, strides, b, rowC, k: k, cRowStride: cRowStride, bRowStride: bRowStride,
          column: column, as: SIMD8<Float>.self,
          overwrite: overwrite, epilogue: epilogue)
        column += 8
      }
      if column + 4 <= n {
        blockOfSix(
          rowA, strides, b, rowC, k: k, cRowStride: cRowStride, bRowStride: bRowStride,
          column: column, as: SIMD4<Float>.self,
          overwrite: overwrite, epilogue: epilogue)
        column += 4
      }
      let rowA4 = rowA + 4 * rowStride
      let rowC4 = rowC + 4 * cRowStride
      scalarColumnsOfFour(
        rowA, strides, b, rowC, k: k, n: n, bRowStride: bRowStride, cRowStride: cRowStride,
        from: column, overwrite: overwrite,
        epilogue: epilogue)
      for r in 0..<2 {
        scalarColumns(
          rowA4 + r * rowStride, depthStride: depthStride, b, rowC4 + r * cRowStride, k: k, n: n,
          bRowStride: bRowStride,
          cRowStride: cRowStride,
          from: column, overwrite: overwrite, epilogue: epilogue)
      }
      if let mask {
        maskByActivation(rowC, mask + row * n, count: 6 * n)
      }
      row += 6
    }
    while row + 4 <= m {
      let rowA = a + row * rowStride
      let rowC = c + row * cRowStride
      var column = 0
      while column + 16 <= n {
        blockOfFour(
          rowA, strides, b, rowC, k: k, cRowStride: cRowStride, bRowStride: bRowStride,
          column: column, as: Vector.self,
          overwrite: overwrite,
          epilogue: epilogue)
        column += 16
      }
      if column + 8 <= n {
        blockOfFour(
          rowA, strides, b, rowC, k: k, cRowStride: cRowStride, bRowStride: bRowStride,
          column: column, as: SIMD8<Float>.self,
          overwrite: overwrite, epilogue: epilogue)
        column += 8
      }
      if column + 4 <= n {
        blockOfFour(
          rowA, strides, b, rowC, k: k, cRowStride: cRowStride, bRowStride: bRowStride,
          column: column, as: SIMD4<Float>.self,
          overwrite: overwrite, epilogue: epilogue)
        column += 4
      }
      scalarColumnsOfFour(
        rowA, strides, b, rowC, k: k, n: n, bRowStride: bRowStride, cRowStride: cRowStride,
        from: column, overwrite: overwrite,
        epilogue: epilogue)
      if let mask {
        maskByActivation(rowC, mask + row * n, count: 4 * n)
      }
      row += 4
    }
    // Two leftover rows share each load of `b`, with twice the independent chains of one row.
    if row + 2 <= m {
      let rowA = a + row * rowStride
      let rowC = c + row * cRowStride
      var column = 0
      #if ADPILOT_AVX512
        // Three or two 16-lane vectors per row keep six or four sums in flight. With one vector
        // per call, two chains would wait on the fused multiply-add latency.
        while column + 48 <= n {
          blockOfTwoWide(
            rowA, strides, b, rowC, k: k, cRowStride: cRowStride, bRowStride: bRowStride,
            column: column, vectors: 3, overwrite: overwrite, epilogue: epilogue)
          column += 48
        }
        if column + 32 <= n {
          blockOfTwoWide(
            rowA, strides, b, rowC, k: k, cRowStride: cRowStride, bRowStride: bRowStride,
            column: column, vectors: 2, overwrite: overwrite, epilogue: epilogue)
          column += 32
        }
      #endif
      while column + 16 <= n {
        blockOfTwo(
          rowA, strides, b, rowC, k: k, cRowStride: cRowStride, bRowStride: bRowStride,
          column: column, as: Vector.self,
          overwrite: overwrite,
          epilogue: epilogue)
        column += 16
      }
      if column + 8 <= n {
        blockOfTwo(
          rowA, strides, b, rowC, k: k, cRowStride: cRowStride, bRowStride: bRowStride,
          column: column, as: SIMD8<Float>.self,
          overwrite: overwrite, epilogue: epilogue)
        column += 8
      }
      if column + 4 <= n {
        blockOfTwo(
          rowA, strides, b, rowC, k: k, cRowStride: cRowStride, bRowStride: bRowStride,
          column: column, as: SIMD4<Float>.self,
          overwrite: overwrite, epilogue: epilogue)
        column += 4
      }
      for r in 0..<2 {
        scalarColumns(
          rowA + r * rowStride, depthStride: depthStride, b, rowC + r * cRowStride, k: k, n: n,
          bRowStride: bRowStride,
          cRowStride: cRowStride,
          from: column, overwrite: overwrite, epilogue: epilogue)
      }
      if let mask {
        maskByActivation(rowC, mask + row * n, count: 2 * n)
      }
      row += 2
    }
    while row < m {
      let rowA = a + row * rowStride
      let rowC = c + row * cRowStride
      var column = 0
      while column + 16 <= n {
        blockOfOne(
          rowA, depthStride: depthStride, b, rowC, k: k, cRowStride: cRowStride,
          bRowStride: bRowStride, column: column,
          as: Vector.self,
          overwrite: overwrite, epilogue: epilogue)
        column += 16
      }
      if column + 8 <= n {
        blockOfOne(
          rowA, depthStride: depthStride, b, rowC, k: k, cRowStride: cRowStride,
          bRowStride: bRowStride, column: column,
          as: SIMD8<Float>.self, overwrite: overwrite, epilogue: epilogue
        )
        column += 8
      }
      if column + 4 <= n {
        blockOfOne(
          rowA, depthStride: depthStride, b, rowC, k: k, cRowStride: cRowStride,
          bRowStride: bRowStride, column: column,
          as: SIMD4<Float>.self, overwrite: overwrite, epilogue: epilogue
        )
        column += 4
      }
      scalarColumns(
        rowA, depthStride: depthStride, b, rowC, k: k, n: n, bRowStride: bRowStride,
        cRowStride: cRowStride, from: column,
        overwrite: overwrite,
        epilogue: epilogue)
      if let mask {
        maskByActivation(rowC, mask + row * n, count: n)
      }
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

  /// Stores `value` at `c + column` and applies the epilogue to its columns.
  @inline(__always)
  private static func storeFinished<V: SIMD>(
    _ value: V, _ c: UnsafeMutablePointer<Float>, column: Int, _ epilogue: Epilogue?
  ) where V.Scalar == Float {
    store(value, c + column)
    finishStored(c + column, count: V.scalarCount, epilogue, column)
  }

  /// Adds the product to one vector of columns of four rows: `a` and `c` point at row 0.
  @inline(__always)
  private static func blockOfFour<V: SIMD>(
    _ a: UnsafePointer<Float>, _ strides: (row: Int, depth: Int), _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, k: Int, cRowStride: Int, bRowStride: Int, column: Int,
    as: V.Type,
    overwrite: Bool,
    epilogue: Epilogue?
  ) where V.Scalar == Float {
    var c0 = overwrite ? V() : load(c + column, as: V.self)
    var c1 = overwrite ? V() : load(c + cRowStride + column, as: V.self)
    var c2 = overwrite ? V() : load(c + 2 * cRowStride + column, as: V.self)
    var c3 = overwrite ? V() : load(c + 3 * cRowStride + column, as: V.self)
    let rowStride = strides.row
    for index in 0..<k {
      let bv = load(b + index * bRowStride + column, as: V.self)
      let p = a + index * strides.depth
      c0 = c0.addingProduct(p[0], bv)
      c1 = c1.addingProduct(p[rowStride], bv)
      c2 = c2.addingProduct(p[2 * rowStride], bv)
      c3 = c3.addingProduct(p[3 * rowStride], bv)
    }
    storeFinished(c0, c, column: column, epilogue)
    storeFinished(c1, c + cRowStride, column: column, epilogue)
    storeFinished(c2, c + 2 * cRowStride, column: column, epilogue)
    storeFinished(c3, c + 3 * cRowStride, column: column, epilogue)
  }

  /// Adds the product to one vector of columns of six rows: `a` and `c` point at row 0.
  @inline(__always)
  private static func blockOfSix<V: SIMD>(
    _ a: UnsafePointer<Float>, _ strides: (row: Int, depth: Int), _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, k: Int, cRowStride: Int, bRowStride: Int, column: Int,
    as: V.Type,
    overwrite: Bool,
    epilogue: Epilogue?
  ) where V.Scalar == Float {
    var c0 = overwrite ? V() : load(c + column, as: V.self)
    var c1 = overwrite ? V() : load(c + cRowStride + column, as: V.self)
    var c2 = overwrite ? V() : load(c + 2 * cRowStride + column, as: V.self)
    var c3 = overwrite ? V() : load(c + 3 * cRowStride + column, as: V.self)
    var c4 = overwrite ? V() : load(c + 4 * cRowStride + column, as: V.self)
    var c5 = overwrite ? V() : load(c + 5 * cRowStride + column, as: V.self)
    let rowStride = strides.row
    for index in 0..<k {
      let bv = load(b + index * bRowStride + column, as: V.self)
      let p = a + index * strides.depth
      c0 = c0.addingProduct(p[0], bv)
      c1 = c1.addingProduct(p[rowStride], bv)
      c2 = c2.addingProduct(p[2 * rowStride], bv)
      c3 = c3.addingProduct(p[3 * rowStride], bv)
      c4 = c4.addingProduct(p[4 * rowStride], bv)
      c5 = c5.addingProduct(p[5 * rowStride], bv)
    }
    storeFinished(c0, c, column: column, epilogue)
    storeFinished(c1, c + cRowStride, column: column, epilogue)
    storeFinished(c2, c + 2 * cRowStride, column: column, epilogue)
    storeFinished(c3, c + 3 * cRowStride, column: column, epilogue)
    storeFinished(c4, c + 4 * cRowStride, column: column, epilogue)
    storeFinished(c5, c + 5 * cRowStride, column: column, epilogue)
  }

  /// Adds the product to two 16-lane vectors of columns of six rows: `a` and `c` point at row 0.
  /// With AVX-512 each vector is one register, so this keeps twelve sums in flight.
  @inline(__always)
  private static func blockOfSixByTwo(
    _ a: UnsafePointer<Float>, _ strides: (row: Int, depth: Int), _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, k: Int, cRowStride: Int, bRowStride: Int, column: Int,
    overwrite: Bool,
    epilogue: Epilogue?
  ) {
    let right = column + 16
    var c0 = overwrite ? Vector() : load(c + column, as: Vector.self)
    var c1 = overwrite ? Vector() : load(c + cRowStride + column, as: Vector.self)
    var c2 = overwrite ? Vector() : load(c + 2 * cRowStride + column, as: Vector.self)
    var c3 = overwrite ? Vector() : load(c + 3 * cRowStride + column, as: Vector.self)
    var c4 = overwrite ? Vector() : load(c + 4 * cRowStride + column, as: Vector.self)
    var c5 = overwrite ? Vector() : load(c + 5 * cRowStride + column, as: Vector.self)

    var d0 = overwrite ? Vector() : load(c + right, as: Vector.self)
    var d1 = overwrite ? Vector() : load(c + cRowStride + right, as: Vector.self)
    var d2 = overwrite ? Vector() : load(c + 2 * cRowStride + right, as: Vector.self)
    var d3 = overwrite ? Vector() : load(c + 3 * cRowStride + right, as: Vector.self)
    var d4 = overwrite ? Vector() : load(c + 4 * cRowStride + right, as: Vector.self)
    var d5 = overwrite ? Vector() : load(c + 5 * cRowStride + right, as: Vector.self)

    let rowStride = strides.row
    for index in 0..<k {
      let bv = load(b + index * bRowStride + column, as: Vector.self)
      let bw = load(b + index * bRowStride + right, as: Vector.self)
      let p = a + index * strides.depth
      let a0 = p[0]
      let a1 = p[rowStride]
      let a2 = p[2 * rowStride]
      let a3 = p[3 * rowStride]
      let a4 = p[4 * rowStride]
      let a5 = p[5 * rowStride]
      c0 = c0.addingProduct(a0, bv)
      d0 = d0.addingProduct(a0, bw)
      c1 = c1.addingProduct(a1, bv)
      d1 = d1.addingProduct(a1, bw)
      c2 = c2.addingProduct(a2, bv)
      d2 = d2.addingProduct(a2, bw)
      c3 = c3.addingProduct(a3, bv)
      d3 = d3.addingProduct(a3, bw)
      c4 = c4.addingProduct(a4, bv)
      d4 = d4.addingProduct(a4, bw)
      c5 = c5.addingProduct(a5, bv)
      d5 = d5.addingProduct(a5, bw)
    }

    storeRow(c0, d0, c, column: column, epilogue)
    storeRow(c1, d1, c + cRowStride, column: column, epilogue)
    storeRow(c2, d2, c + 2 * cRowStride, column: column, epilogue)
    storeRow(c3, d3, c + 3 * cRowStride, column: column, epilogue)
    storeRow(c4, d4, c + 4 * cRowStride, column: column, epilogue)
    storeRow(c5, d5, c + 5 * cRowStride, column: column, epilogue)
  }

  /// Adds the product to two 16-lane vectors and one `Tail` vector of columns of six rows,
  /// `32 + Tail.scalarCount` columns in all: `a` and `c` point at row 0. With AVX-512 this keeps
  /// eighteen sums in flight.
  @inline(__always)
  private static func blockOfSixWithTail<Tail: SIMD>(
    _ a: UnsafePointer<Float>, _ strides: (row: Int, depth: Int), _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, k: Int, cRowStride: Int, bRowStride: Int, column: Int,
    tail: Tail.Type,
    overwrite: Bool, epilogue: Epilogue?
  ) where Tail.Scalar == Float {
    let right = column + 16
    let last = column + 32
    var c0 = overwrite ? Vector() : load(c + column, as: Vector.self)
    var c1 = overwrite ? Vector() : load(c + cRowStride + column, as: Vector.self)
    var c2 = overwrite ? Vector() : load(c + 2 * cRowStride + column, as: Vector.self)
    var c3 = overwrite ? Vector() : load(c + 3 * cRowStride + column, as: Vector.self)
    var c4 = overwrite ? Vector() : load(c + 4 * cRowStride + column, as: Vector.self)
    var c5 = overwrite ? Vector() : load(c + 5 * cRowStride + column, as: Vector.self)

    var d0 = overwrite ? Vector() : load(c + right, as: Vector.self)
    var d1 = overwrite ? Vector() : load(c + cRowStride + right, as: Vector.self)
    var d2 = overwrite ? Vector() : load(c + 2 * cRowStride + right, as: Vector.self)
    var d3 = overwrite ? Vector() : load(c + 3 * cRowStride + right, as: Vector.self)
    var d4 = overwrite ? Vector() : load(c + 4 * cRowStride + right, as: Vector.self)
    var d5 = overwrite ? Vector() : load(c + 5 * cRowStride + right, as: Vector.self)

    var e0 = overwrite ? Tail() : load(c + last, as: Tail.self)
    var e1 = overwrite ? Tail() : load(c + cRowStride + last, as: Tail.self)
    var e2 = overwrite ? Tail() : load(c + 2 * cRowStride + last, as: Tail.self)
    var e3 = overwrite ? Tail() : load(c + 3 * cRowStride + last, as: Tail.self)
    var e4 = overwrite ? Tail() : load(c + 4 * cRowStride + last, as: Tail.self)
    var e5 = overwrite ? Tail() : load(c + 5 * cRowStride + last, as: Tail.self)

    let rowStride = strides.row
    for index in 0..<k {
      let bv = load(b + index * bRowStride + column, as: Vector.self)
      let bw = load(b + index * bRowStride + right, as: Vector.self)
      let bt = load(b + index * bRowStride + last, as: Tail.self)
      let p = a + index * strides.depth
      let a0 = p[0]
      let a1 = p[rowStride]
      let a2 = p[2 * rowStride]
      let a3 = p[3 * rowStride]
      let a4 = p[4 * rowStride]
      let a5 = p[5 * rowStride]
      c0 = c0.addingProduct(a0, bv)
      d0 = d0.addingProduct(a0, bw)
      e0 = e0.addingProduct(a0, bt)
      c1 = c1.addingProduct(a1, bv)
      d1 = d1.addingProduct(a1, bw)
      e1 = e1.addingProduct(a1, bt)
      c2 = c2.addingProduct(a2, bv)
      d2 = d2.addingProduct(a2, bw)
      e2 = e2.addingProduct(a2, bt)
      c3 = c3.addingProduct(a3, bv)
      d3 = d3.addingProduct(a3, bw)
      e3 = e3.addingProduct(a3, bt)
      c4 = c4.addingProduct(a4, bv)
      d4 = d4.addingProduct(a4, bw)
      e4 = e4.addingProduct(a4, bt)
      c5 = c5.addingProduct(a5, bv)
      d5 = d5.addingProduct(a5, bw)
      e5 = e5.addingProduct(a5, bt)
    }

    storeRow(c0, d0, c, column: column, epilogue)
    storeRow(c1, d1, c + cRowStride, column: column, epilogue)
    storeRow(c2, d2, c + 2 * cRowStride, column: column, epilogue)
    storeRow(c3, d3, c + 3 * cRowStride, column: column, epilogue)
    storeRow(c4, d4, c + 4 * cRowStride, column: column, epilogue)
    storeRow(c5, d5, c + 5 * cRowStride, column: column, epilogue)

    storeFinished(e0, c, column: last, epilogue)
    storeFinished(e1, c + cRowStride, column: last, epilogue)
    storeFinished(e2, c + 2 * cRowStride, column: last, epilogue)
    storeFinished(e3, c + 3 * cRowStride, column: last, epilogue)
    storeFinished(e4, c + 4 * cRowStride, column: last, epilogue)
    storeFinished(e5, c + 5 * cRowStride, column: last, epilogue)
  }

  /// Stores 32 sums of one row at `row + column` and finishes them.
  @inline(__always)
  private static func storeRow(
    _ left: Vector, _ right: Vector, _ row: UnsafeMutablePointer<Float>, column: Int,
    _ epilogue: Epilogue?
  ) {
    storeFinished(left, row, column: column, epilogue)
    storeFinished(right, row, column: column + 16, epilogue)
  }

  /// Adds the product to `vectors` (2 or 3) 16-lane vectors of columns of two rows, `16 *
  /// vectors` columns from `column`: `a` and `c` point at row 0. A third vector's sums stay
  /// zero when `vectors` is 2 and are not stored.
  @inline(__always)
  private static func blockOfTwoWide(
    _ a: UnsafePointer<Float>, _ strides: (row: Int, depth: Int), _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, k: Int, cRowStride: Int, bRowStride: Int, column: Int,
    vectors: Int, overwrite: Bool, epilogue: Epilogue?
  ) {
    let three = vectors == 3
    let second = column + 16
    let third = column + 32
    func start(_ row: Int, _ at: Int, _ used: Bool = true) -> Vector {
      overwrite || !used ? Vector() : load(c + row * cRowStride + at, as: Vector.self)
    }
    var c0 = start(0, column)
    var d0 = start(0, second)
    var e0 = start(0, third, three)
    var c1 = start(1, column)
    var d1 = start(1, second)
    var e1 = start(1, third, three)
    for index in 0..<k {
      let row = b + index * bRowStride
      let bv = load(row + column, as: Vector.self)
      let bw = load(row + second, as: Vector.self)
      let p = a + index * strides.depth
      let a0 = p[0]
      let a1 = p[strides.row]
      c0 = c0.addingProduct(a0, bv)
      d0 = d0.addingProduct(a0, bw)
      c1 = c1.addingProduct(a1, bv)
      d1 = d1.addingProduct(a1, bw)
      if three {
        let bt = load(row + third, as: Vector.self)
        e0 = e0.addingProduct(a0, bt)
        e1 = e1.addingProduct(a1, bt)
      }
    }
    storeRow(c0, d0, c, column: column, epilogue)
    storeRow(c1, d1, c + cRowStride, column: column, epilogue)
    if three {
      storeFinished(e0, c, column: third, epilogue)
      storeFinished(e1, c + cRowStride, column: third, epilogue)
    }
  }

  /// Adds the product to one vector of columns of two rows: `a` and `c` point at row 0.
  @inline(__always)
  private static func blockOfTwo<V: SIMD>(
    _ a: UnsafePointer<Float>, _ strides: (row: Int, depth: Int), _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, k: Int, cRowStride: Int, bRowStride: Int, column: Int,
    as: V.Type,
    overwrite: Bool,
    epilogue: Epilogue?
  ) where V.Scalar == Float {
    var c0 = overwrite ? V() : load(c + column, as: V.self)
    var c1 = overwrite ? V() : load(c + cRowStride + column, as: V.self)
    for index in 0..<k {
      let bv = load(b + index * bRowStride + column, as: V.self)
      let p = a + index * strides.depth
      c0 = c0.addingProduct(p[0], bv)
      c1 = c1.addingProduct(p[strides.row], bv)
    }
    storeFinished(c0, c, column: column, epilogue)
    storeFinished(c1, c + cRowStride, column: column, epilogue)
  }

  @inline(__always)
  private static func blockOfOne<V: SIMD>(
    _ a: UnsafePointer<Float>, depthStride: Int, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>,
    k: Int, cRowStride: Int, bRowStride: Int, column: Int, as: V.Type, overwrite: Bool,
    epilogue: Epilogue?
  ) where V.Scalar == Float {
    var c0 = overwrite ? V() : load(c + column, as: V.self)
    for index in 0..<k {
      c0 = c0.addingProduct(
        a[index * depthStride], load(b + index * bRowStride + column, as: V.self))
    }
    storeFinished(c0, c, column: column, epilogue)
  }

  /// Computes the columns from `start` on of four rows, each element by the same ascending-`k`
  /// chain as ``scalarColumns(_:depthStride:_:_:k:n:from:overwrite:)``. The four chains are
  /// independent, so they overlap in the pipeline: a single-column product such as a layer
  /// with one output is then not bound by one chain's fused multiply-add latency.
  @inline(__always)
  private static func scalarColumnsOfFour(
    _ a: UnsafePointer<Float>, _ strides: (row: Int, depth: Int), _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, k: Int, n: Int, bRowStride: Int, cRowStride: Int,
    from start: Int,
    overwrite: Bool,
    epilogue: Epilogue?
  ) {
    let rowStride = strides.row
    for column in start..<n {
      var s0: Float = overwrite ? 0 : c[column]
      var s1: Float = overwrite ? 0 : c[cRowStride + column]
      var s2: Float = overwrite ? 0 : c[2 * cRowStride + column]
      var s3: Float = overwrite ? 0 : c[3 * cRowStride + column]
      for index in 0..<k {
        let p = a + index * strides.depth
        let bv = b[index * bRowStride + column]
        s0 = s0.addingProduct(p[0], bv)
        s1 = s1.addingProduct(p[rowStride], bv)
        s2 = s2.addingProduct(p[2 * rowStride], bv)
        s3 = s3.addingProduct(p[3 * rowStride], bv)
      }
      c[column] = finish(s0, epilogue, column)
      c[cRowStride + column] = finish(s1, epilogue, column)
      c[2 * cRowStride + column] = finish(s2, epilogue, column)
      c[3 * cRowStride + column] = finish(s3, epilogue, column)
    }
  }

  /// Computes the single column of the first rows of `a` in blocks of 16 and 8, where element
  /// (i, p) of `a` is `a[i + p * depthStride]`, and returns the number of rows done. Each lane
  /// runs the ascending-`k` chain of its row.
  @inline(__always)
  private static func adjacentRowsOfOneColumn(
    _ a: UnsafePointer<Float>, depthStride: Int, _ b: UnsafePointer<Float>, bRowStride: Int,
    _ c: UnsafeMutablePointer<Float>, m: Int, k: Int, overwrite: Bool
  ) -> Int {
    var row = 0
    while row + 16 <= m {
      var sum = overwrite ? Vector() : load(c + row, as: Vector.self)
      for index in 0..<k {
        sum = sum.addingProduct(
          load(a + row + index * depthStride, as: Vector.self), b[index * bRowStride])
      }
      store(sum, c + row)
      row += 16
    }
    if row + 8 <= m {
      var sum = overwrite ? SIMD8<Float>() : load(c + row, as: SIMD8<Float>.self)
      for index in 0..<k {
        sum = sum.addingProduct(
          load(a + row + index * depthStride, as: SIMD8<Float>.self), b[index * bRowStride])
      }
      store(sum, c + row)
      row += 8
    }
    return row
  }

  /// Computes every column of eight rows, each element by the same ascending-`k` chain as
  /// ``scalarColumns(_:depthStride:_:_:k:n:from:overwrite:)``.
  @inline(__always)
  private static func scalarColumnsOfEight(
    _ a: UnsafePointer<Float>, _ strides: (row: Int, depth: Int), _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, k: Int, n: Int, bRowStride: Int, cRowStride: Int,
    overwrite: Bool,
    epilogue: Epilogue?
  ) {
    let rowStride = strides.row
    for column in 0..<n {
      func start(_ r: Int) -> Float { overwrite ? 0 : c[r * cRowStride + column] }
      var s0 = start(0)
      var s1 = start(1)
      var s2 = start(2)
      var s3 = start(3)
      var s4 = start(4)
      var s5 = start(5)
      var s6 = start(6)
      var s7 = start(7)
      for index in 0..<k {
        let p = a + index * strides.depth
        let bv = b[index * bRowStride + column]
        s0 = s0.addingProduct(p[0], bv)
        s1 = s1.addingProduct(p[rowStride], bv)
        s2 = s2.addingProduct(p[2 * rowStride], bv)
        s3 = s3.addingProduct(p[3 * rowStride], bv)
        s4 = s4.addingProduct(p[4 * rowStride], bv)
        s5 = s5.addingProduct(p[5 * rowStride], bv)
        s6 = s6.addingProduct(p[6 * rowStride], bv)
        s7 = s7.addingProduct(p[7 * rowStride], bv)
      }
      c[column] = finish(s0, epilogue, column)
      c[cRowStride + column] = finish(s1, epilogue, column)
      c[2 * cRowStride + column] = finish(s2, epilogue, column)
      c[3 * cRowStride + column] = finish(s3, epilogue, column)
      c[4 * cRowStride + column] = finish(s4, epilogue, column)
      c[5 * cRowStride + column] = finish(s5, epilogue, column)
      c[6 * cRowStride + column] = finish(s6, epilogue, column)
      c[7 * cRowStride + column] = finish(s7, epilogue, column)
    }
  }

  /// Computes the columns from `start` on of one row, in the same ascending-`k` order.
  @inline(__always)
  private static func scalarColumns(
    _ a: UnsafePointer<Float>, depthStride: Int, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, k: Int, n: Int, bRowStride: Int, cRowStride: Int,
    from start: Int,
    overwrite: Bool,
    epilogue: Epilogue?
  ) {
    for column in start..<n {
      var sum: Float = overwrite ? 0 : c[column]
      for index in 0..<k {
        sum = sum.addingProduct(a[index * depthStride], b[index * bRowStride + column])
      }
      c[column] = finish(sum, epilogue, column)
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

  /// Adds `vector [width]` to every row of `values [rows x width]`, then replaces negative sums
  /// by 0 (ReLU, keeping NaN and -0) when `rectify` is true: a bias and activation epilogue for
  /// ``multiply(_:_:_:m:k:n:)``. Every element is written with a vector select: a loop that
  /// stores only the negative elements compiles to masked stores, which are microcoded and
  /// slow on AMD Zen cores.
  static func addToRows(
    _ vector: UnsafePointer<Float>, _ values: UnsafeMutablePointer<Float>, rows: Int, width: Int,
    rectify: Bool
  ) {
    for r in 0..<rows {
      let row = values + r * width
      var j = 0
      while j + 8 <= width {
        let sum = load(row + j, as: SIMD8<Float>.self) + load(vector + j, as: SIMD8<Float>.self)
        store(rectify ? sum.replacing(with: 0, where: sum .< 0) : sum, row + j)
        j += 8
      }
      while j < width {
        let sum = row[j] + vector[j]
        row[j] = rectify && sum < 0 ? 0 : sum
        j += 1
      }
    }
  }

  /// Copies `count` Floats from `source` to `target` (which must not overlap) with vector
  /// moves: short rows such as one embedding are copied inline, not through a memmove call.
  @inline(__always)
  static func copy(
    _ source: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>, count: Int
  ) {
    var index = 0
    while index + 8 <= count {
      store(load(source + index, as: SIMD8<Float>.self), target + index)
      index += 8
    }
    while index < count {
      target[index] = source[index]
      index += 1
    }
  }

  /// Returns the dot product of `a [count]` and `b [count]`, summed in eight lanes of fused
  /// multiply-adds and then across the lanes in lane order. Every call uses that same order.
  static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = SIMD8<Float>()
    var index = 0
    while index + 8 <= count {
      lanes = lanes.addingProduct(
        load(a + index, as: SIMD8<Float>.self), load(b + index, as: SIMD8<Float>.self))
      index += 8
    }
    var total: Float = 0
    for lane in 0..<8 {
      total += lanes[lane]
    }
    while index < count {
      total = total.addingProduct(a[index], b[index])
      index += 1
    }
    return total
  }

  /// Sets `gradient[i]` to 0 wherever `activation[i] <= 0` (or NaN): the ReLU's backward pass
  /// from its output. Like ``addToRows(_:_:rows:width:rectify:)`` it writes every element with a
  /// vector select.
  static func maskByActivation(
    _ gradient: UnsafeMutablePointer<Float>, _ activation: UnsafePointer<Float>, count: Int
  ) {
    var index = 0
    while index + 8 <= count {
      let g = load(gradient + index, as: SIMD8<Float>.self)
      let a = load(activation + index, as: SIMD8<Float>.self)
      store(g.replacing(with: 0, where: .!(a .> 0)), gradient + index)
      index += 8
    }
    while index < count {
      gradient[index] = activation[index] > 0 ? gradient[index] : 0
      index += 1
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
