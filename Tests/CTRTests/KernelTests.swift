// Tests of the dense kernels and the factored activation unit against plain reference loops.
// Sizes are chosen to cross the 16-wide vectors, the four-row blocks and the 256-deep k tiles.

import Testing

@testable import CTR

private func randomValues(_ count: Int, seed: UInt64) -> [Float] {
  var random = SplitMix64(seed: seed)
  return (0..<count).map { _ in random.nextFloat(in: -1..<1) }
}

@Test func multiplyAccumulateMatchesReference() {
  for (m, k, n) in [
    (1, 1, 1), (7, 300, 37), (4, 16, 16), (9, 513, 5), (5, 3, 80), (6, 20, 40), (5, 7, 28),
    (4, 9, 12), (3, 5, 200), (8, 2, 3),
  ] {
    let a = randomValues(m * k, seed: 1)
    let b = randomValues(k * n, seed: 2)
    var c = randomValues(m * n, seed: 3)
    let start = c
    a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        c.withUnsafeMutableBufferPointer { c in
          Kernels.multiplyAccumulate(
            a.baseAddress!, b.baseAddress!, c.baseAddress!, m: m, k: k, n: n)
        }
      }
    }
    var worst = 0.0
    for i in 0..<m {
      for j in 0..<n {
        var sum = Double(start[i * n + j])
        for index in 0..<k { sum += Double(a[i * k + index]) * Double(b[index * n + j]) }
        worst = max(worst, abs(sum - Double(c[i * n + j])))
      }
    }
    // Random-sign products keep the running sum near sqrt(k), so k Float32 roundings of
    // relative size 2^-24 stay below 1e-4 for these sizes.
    #expect(worst < 1e-4, "m \(m) k \(k) n \(n): error \(worst)")
  }
}

@Test func multiplyAccumulateRowsIgnoreBlocking() {
  // Row 5 computed inside a batch of 9 (a four-row block) and alone must agree bit for bit.
  let (m, k, n) = (9, 300, 37)
  let a = randomValues(m * k, seed: 4)
  let b = randomValues(k * n, seed: 5)
  var all = [Float](repeating: 0, count: m * n)
  var single = [Float](repeating: 0, count: n)
  a.withUnsafeBufferPointer { a in
    b.withUnsafeBufferPointer { b in
      all.withUnsafeMutableBufferPointer { c in
        Kernels.multiplyAccumulate(a.baseAddress!, b.baseAddress!, c.baseAddress!, m: m, k: k, n: n)
      }
      single.withUnsafeMutableBufferPointer { c in
        Kernels.multiplyAccumulate(
          a.baseAddress! + 5 * k, b.baseAddress!, c.baseAddress!, m: 1, k: k, n: n)
      }
    }
  }
  #expect(Array(all[(5 * n)..<(6 * n)]) == single)
}

@Test func multiplyAccumulateMatchesScalarChainBitForBit() {
  // Every block width (32, 40 and 48 with AVX-512, then 16, 8, 4 and scalar) and height (8 rows
  // for narrow products, 6, 4, 2, 1) runs the same fused multiply-add chain per element.
  for m in [1, 2, 5, 6, 8, 11, 13, 15, 19] {
    for n in [1, 3, 4, 7, 8, 12, 15, 16, 20, 28, 40, 45, 56, 64, 80, 200] {
      let (result, expected) = kernelAndScalarChain(m: m, k: 37, n: n, seed: 6)
      #expect(result == expected, "m \(m) n \(n)")
    }
  }
}

/// Returns `c + a * b` from ``Kernels/multiplyAccumulate(_:_:_:m:k:n:)`` and from the plain
/// ascending-k chain of fused multiply-adds, on random values drawn from `seed` on.
private func kernelAndScalarChain(m: Int, k: Int, n: Int, seed: UInt64) -> ([Float], [Float]) {
  let a = randomValues(m * k, seed: seed)
  let b = randomValues(k * n, seed: seed + 1)
  var c = randomValues(m * n, seed: seed + 2)
  var expected = c
  for i in 0..<m {
    for j in 0..<n {
      for index in 0..<k {
        expected[i * n + j] = expected[i * n + j].addingProduct(a[i * k + index], b[index * n + j])
      }
    }
  }
  a.withUnsafeBufferPointer { a in
    b.withUnsafeBufferPointer { b in
      c.withUnsafeMutableBufferPointer { c in
        guard let a = a.baseAddress, let b = b.baseAddress, let c = c.baseAddress else { return }
        Kernels.multiplyAccumulate(a, b, c, m: m, k: k, n: n)
      }
    }
  }
  return (c, expected)
}

@Test func packedProductMatchesScalarChain() {
  // Products of at least 48 rows and over 80 columns copy each k tile of `b` into panels of 48
  // or 32 columns and go through 192-row blocks. Each element must still be the plain
  // ascending-k chain: across two k tiles, remainder panels of 34 and 33 columns, a last panel
  // of 40 that took in a remainder of 8, and a last row block of 5 rows.
  for (m, k, n) in [(50, 300, 130), (48, 37, 81), (197, 20, 290), (53, 5, 200)] {
    let (result, expected) = kernelAndScalarChain(m: m, k: k, n: n, seed: 12)
    #expect(result == expected, "m \(m) k \(k) n \(n)")
  }
}

@Test func multiplyOverwritesLikeZeroThenAccumulate() {
  // `multiply` must ignore what `c` held (NaN here) and equal zeroing then accumulating, bit
  // for bit, for every block width and across two k tiles.
  for (m, k, n) in [(1, 1, 1), (6, 37, 45), (9, 300, 20), (5, 40, 80), (3, 0, 4), (49, 300, 90)] {
    let a = randomValues(m * k, seed: 16)
    let b = randomValues(k * n, seed: 17)
    var overwritten = [Float](repeating: .nan, count: m * n)
    var accumulated = [Float](repeating: 0, count: m * n)
    a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        let aBase = a.baseAddress ?? UnsafePointer(bitPattern: 16)!
        let bBase = b.baseAddress ?? UnsafePointer(bitPattern: 16)!
        overwritten.withUnsafeMutableBufferPointer { c in
          Kernels.multiply(aBase, bBase, c.baseAddress!, m: m, k: k, n: n)
        }
        accumulated.withUnsafeMutableBufferPointer { c in
          Kernels.multiplyAccumulate(aBase, bBase, c.baseAddress!, m: m, k: k, n: n)
        }
      }
    }
    #expect(overwritten == accumulated, "m \(m) k \(k) n \(n)")
    #expect(overwritten.allSatisfy { $0.isFinite }, "m \(m) k \(k) n \(n)")
  }
}

@Test func maskedMultiplyMatchesMultiplyThenMask() {
  // The mask fused into the product must equal a separate pass, for eight-, six-, four- and
  // two-row blocks, single rows, two k tiles and packed panels. The mask zeroes where it is 0,
  // negative or NaN.
  for (m, k, n) in [
    (1, 3, 5), (7, 40, 80), (6, 300, 20), (17, 9, 44), (19, 40, 1), (9, 5, 3), (200, 270, 100),
  ] {
    let a = randomValues(m * k, seed: 22)
    let b = randomValues(k * n, seed: 23)
    var mask = randomValues(m * n, seed: 24)
    mask[0] = 0
    mask[m * n - 1] = .nan
    var fused = [Float](repeating: .nan, count: m * n)
    var separate = [Float](repeating: .nan, count: m * n)
    a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        mask.withUnsafeBufferPointer { mask in
          fused.withUnsafeMutableBufferPointer { c in
            Kernels.multiply(
              a.baseAddress!, b.baseAddress!, c.baseAddress!, m: m, k: k, n: n,
              mask: mask.baseAddress!)
          }
          separate.withUnsafeMutableBufferPointer { c in
            Kernels.multiply(a.baseAddress!, b.baseAddress!, c.baseAddress!, m: m, k: k, n: n)
            Kernels.maskByActivation(c.baseAddress!, mask.baseAddress!, count: m * n)
          }
        }
      }
    }
    #expect(fused == separate, "m \(m) k \(k) n \(n)")
    #expect(fused[0] == 0, "m \(m) k \(k) n \(n)")
    #expect(fused[m * n - 1] == 0, "m \(m) k \(k) n \(n)")
    #expect(fused.contains { $0 != 0 }, "m \(m) k \(k) n \(n)")
  }
}

@Test func addToRowsMatchesPlainLoop() {
  // Widths cross the 8-wide vectors; NaN and -0 must come through the ReLU unchanged.
  for width in [1, 7, 8, 13, 40] {
    let rows = 3
    var vector = randomValues(width, seed: 18)
    var values = randomValues(rows * width, seed: 19)
    values[0] = .nan
    vector[0] = -0.0
    values[width] = -0.0  // Row 1, column 0 sums to -0, which the ReLU keeps.
    for rectify in [false, true] {
      var expected = values
      for r in 0..<rows {
        for j in 0..<width {
          let sum = values[r * width + j] + vector[j]
          expected[r * width + j] = rectify && sum < 0 ? 0 : sum
        }
      }
      var result = values
      vector.withUnsafeBufferPointer { v in
        result.withUnsafeMutableBufferPointer { out in
          Kernels.addToRows(
            v.baseAddress!, out.baseAddress!, rows: rows, width: width, rectify: rectify)
        }
      }
      #expect(result[0].isNaN, "width \(width)")
      #expect(result[width] == 0, "width \(width)")
      #expect(result[width].sign == .minus, "width \(width)")
      #expect(
        result.map(\.bitPattern) == expected.map(\.bitPattern),
        "width \(width) rectify \(rectify)")
      if rectify {
        #expect(result.dropFirst().allSatisfy { $0 >= 0 }, "width \(width)")
      }
    }
  }
}

@Test func copyMatchesSource() {
  for count in [0, 1, 7, 8, 16, 21] {
    let source = randomValues(count + 1, seed: 20)
    var target = [Float](repeating: 9, count: count + 1)
    source.withUnsafeBufferPointer { s in
      target.withUnsafeMutableBufferPointer { t in
        Kernels.copy(s.baseAddress!, t.baseAddress!, count: count)
      }
    }
    #expect(Array(target[0..<count]) == Array(source[0..<count]), "count \(count)")
    #expect(target[count] == 9, "count \(count) wrote past the end")
  }
}

@Test func transposeAndColumnSums() {
  let source: [Float] = [1, 2, 3, 4, 5, 6]  // 2 x 3
  var target = [Float](repeating: 0, count: 6)
  var sums: [Float] = [10, 20, 30]
  source.withUnsafeBufferPointer { s in
    target.withUnsafeMutableBufferPointer { t in
      Kernels.transpose(s.baseAddress!, t.baseAddress!, rows: 2, columns: 3)
    }
    sums.withUnsafeMutableBufferPointer { c in
      Kernels.addColumnSums(s.baseAddress!, c.baseAddress!, rows: 2, columns: 3)
    }
  }
  #expect(target == [1, 4, 2, 5, 3, 6])
  #expect(sums == [15, 27, 39])
}

@Test func factoredUnitMatchesPlainFormula() {
  // The unit's weights against a direct MLP over [k, q, k - q, k * q].
  let q = 6
  var offset = 0
  let unit = ActivationUnit(queryWidth: q, hidden: [5, 3], offset: &offset)
  var parameters = randomValues(offset, seed: 6)
  for layer in unit.layers {
    for index in layer.biasOffset..<(layer.biasOffset + layer.outputs) {
      parameters[index] *= 0.1
    }
  }
  let rows = 3
  let keyStart = [0, 2, 2, 6]  // Row 1 has no keys.
  let keys = randomValues(6 * q, seed: 7)
  let queries = randomValues(rows * q, seed: 8)
  let weights = unit.forward(
    parameters, keys: keys, queries: queries, keyStart: keyStart, rows: rows
  ).weights

  var plainInput: [Float] = []
  for b in 0..<rows {
    for key in keyStart[b]..<keyStart[b + 1] {
      let k = Array(keys[(key * q)..<(key * q + q)])
      let qv = Array(queries[(b * q)..<(b * q + q)])
      plainInput += k + qv + zip(k, qv).map { $0 - $1 } + zip(k, qv).map { $0 * $1 }
    }
  }
  let plain = MLP(layers: unit.layers).forward(parameters, input: plainInput, rows: 6).last!
  #expect(weights.count == 6)
  for (factored, reference) in zip(weights, plain) {
    #expect(abs(factored - reference) < 1e-5, "\(factored) vs \(reference)")
  }
}

@Test func transposedProductMatchesTransposeThenMultiply() {
  // x^T dy read in place must equal the product of an explicit transpose, bit for bit, across
  // k tiles (rows > 256), every column block width, and one column in 16- and 8-row vectors.
  for (rows, m, n) in [
    (1, 1, 1), (300, 7, 40), (513, 9, 5), (40, 64, 80), (17, 4, 28), (300, 60, 100),
    (300, 40, 1), (50, 27, 1),
  ] {
    let x = randomValues(rows * m, seed: 9)
    let dy = randomValues(rows * n, seed: 10)
    var direct = randomValues(m * n, seed: 11)
    var viaCopy = direct
    var transposed = [Float](repeating: 0, count: rows * m)
    x.withUnsafeBufferPointer { x in
      dy.withUnsafeBufferPointer { dy in
        transposed.withUnsafeMutableBufferPointer { t in
          Kernels.transpose(x.baseAddress!, t.baseAddress!, rows: rows, columns: m)
          viaCopy.withUnsafeMutableBufferPointer { c in
            Kernels.multiplyAccumulate(
              t.baseAddress!, dy.baseAddress!, c.baseAddress!, m: m, k: rows, n: n)
          }
        }
        direct.withUnsafeMutableBufferPointer { c in
          Kernels.multiplyAccumulateTransposed(
            x.baseAddress!, dy.baseAddress!, c.baseAddress!, rows: rows, m: m, n: n)
        }
      }
    }
    #expect(direct == viaCopy, "rows \(rows) m \(m) n \(n)")
  }
}

/// True when `value` is within a relative 1e-4 of `reference` (absolute below magnitude 1).
private func isClose(_ value: Float, _ reference: Float) -> Bool {
  abs(value - reference) <= 1e-4 * max(1, abs(reference))
}

@Test(arguments: [[5, 3], [5], []])
func foldedUnitBackwardMatchesPlainMLP(hidden: [Int]) {
  // The unit's per-row folded backward pass against the plain MLP's backward pass over
  // [k, q, k - q, k * q], mapped back to dk and dq by the chain rule, with two, one or no
  // layers after the first.
  let q = 6
  var offset = 0
  let unit = ActivationUnit(queryWidth: q, hidden: hidden, offset: &offset)
  var parameters = randomValues(offset, seed: 12)
  for layer in unit.layers {
    for index in layer.biasOffset..<(layer.biasOffset + layer.outputs) {
      parameters[index] *= 0.1
    }
  }
  let rows = 3
  let keyStart = [0, 3, 3, 7]  // Row 1 has no keys.
  let keyCount = 7
  let keys = randomValues(keyCount * q, seed: 13)
  let queries = randomValues(rows * q, seed: 14)
  let upstream = randomValues(keyCount, seed: 15)

  let (_, gradients, keyGradient, queryGradient) = unitPass(
    unit, parameters, keys: keys, queries: queries, keyStart: keyStart, upstream: upstream)

  var plainInput: [Float] = []
  var rowOfKey: [Int] = []
  for b in 0..<rows {
    for key in keyStart[b]..<keyStart[b + 1] {
      let k = Array(keys[(key * q)..<(key * q + q)])
      let qv = Array(queries[(b * q)..<(b * q + q)])
      plainInput += k + qv + zip(k, qv).map { $0 - $1 } + zip(k, qv).map { $0 * $1 }
      rowOfKey.append(b)
    }
  }
  let mlp = MLP(layers: unit.layers)
  let plainActivations = mlp.forward(parameters, input: plainInput, rows: keyCount)
  var plainGradients = [Float](repeating: 0, count: offset)
  let inputGradient = mlp.backward(
    parameters, gradients: &plainGradients, input: plainInput, activations: plainActivations,
    outputGradient: upstream, rows: keyCount, needInputGradient: true)
  var plainKeyGradient = [Float](repeating: 0, count: keyCount * q)
  var plainQueryGradient = [Float](repeating: 0, count: rows * q)
  for key in 0..<keyCount {
    let b = rowOfKey[key]
    for i in 0..<q {
      let g = (0..<4).map { inputGradient[key * 4 * q + $0 * q + i] }
      plainKeyGradient[key * q + i] = g[0] + g[2] + g[3] * queries[b * q + i]
      plainQueryGradient[b * q + i] += g[1] - g[2] + g[3] * keys[key * q + i]
    }
  }

  #expect(gradients.contains { $0 != 0 })
  for index in 0..<offset {
    #expect(isClose(gradients[index], plainGradients[index]), "weight \(index)")
  }
  for index in 0..<(keyCount * q) {
    #expect(isClose(keyGradient[index], plainKeyGradient[index]), "key value \(index)")
  }
  #expect(queryGradient[q..<(2 * q)].allSatisfy { $0 == 0 }, "a row without keys has no dq")
  for index in 0..<(rows * q) {
    #expect(isClose(queryGradient[index], plainQueryGradient[index]), "query value \(index)")
  }
}

@Test func fusedBiasMatchesMultiplyThenAddToRows() {
  // The bias and ReLU applied to each block before its store must equal a separate pass bit
  // for bit, for every block height and width, one or two k tiles and packed panels, with and
  // without ReLU.
  for (m, k, n) in [
    (1, 3, 5), (19, 40, 1), (13, 37, 45), (50, 32, 80), (7, 300, 20), (4, 0, 9), (50, 270, 130),
  ] {
    for rectify in [false, true] {
      let a = randomValues(m * k, seed: 31)
      var bias = randomValues(n, seed: 32)
      bias[0] = -0.0
      let b = randomValues(k * n, seed: 33)
      var fused = [Float](repeating: .nan, count: m * n)
      var separate = [Float](repeating: .nan, count: m * n)
      a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
          bias.withUnsafeBufferPointer { bias in
            let aBase = a.baseAddress ?? UnsafePointer(bitPattern: 16)!
            let bBase = b.baseAddress ?? UnsafePointer(bitPattern: 16)!
            fused.withUnsafeMutableBufferPointer { c in
              Kernels.multiply(
                aBase, bBase, c.baseAddress!, m: m, k: k, n: n, bias: bias.baseAddress!,
                rectify: rectify)
            }
            separate.withUnsafeMutableBufferPointer { c in
              Kernels.multiply(aBase, bBase, c.baseAddress!, m: m, k: k, n: n)
              Kernels.addToRows(
                bias.baseAddress!, c.baseAddress!, rows: m, width: n, rectify: rectify)
            }
          }
        }
      }
      #expect(fused.map(\.bitPattern) == separate.map(\.bitPattern), "m \(m) k \(k) n \(n)")
    }
  }
}

@Test func chainedSlicesMatchOneProduct() {
  // A product over k split into slices, each call reading its columns of `a` in place, must
  // equal one product over all of k bit for bit: the first slice overwrites, the rest go on.
  let (m, k, n) = (13, 40, 45)
  let width = k + 3
  let a = randomValues(m * width, seed: 41)
  let b = randomValues(k * n, seed: 42)
  var dense = [Float](repeating: 0, count: m * k)
  for i in 0..<m {
    for p in 0..<k { dense[i * k + p] = a[i * width + p] }
  }
  var whole = [Float](repeating: .nan, count: m * n)
  var sliced = [Float](repeating: .nan, count: m * n)
  a.withUnsafeBufferPointer { a in
    b.withUnsafeBufferPointer { b in
      dense.withUnsafeBufferPointer { dense in
        whole.withUnsafeMutableBufferPointer { c in
          Kernels.multiply(dense.baseAddress!, b.baseAddress!, c.baseAddress!, m: m, k: k, n: n)
        }
      }
      sliced.withUnsafeMutableBufferPointer { c in
        var start = 0
        for size in [16, 1, 7, 16] {
          Kernels.multiplyAccumulate(
            a.baseAddress! + start, rowStride: width, b.baseAddress! + start * n, c.baseAddress!,
            m: m, k: size, n: n, overwrite: start == 0)
          start += size
        }
        #expect(start == k)
      }
    }
  }
  #expect(sliced.map(\.bitPattern) == whole.map(\.bitPattern))
}

/// Returns `a * b` out of the optimizer's sight, so the product runs at run time.
@inline(never)
private func product(_ a: Float, _ b: Float) -> Float { a * b }

@Test func flushingSubnormalsIsScoped() {
  let smallest = Float.leastNormalMagnitude
  let inside = FloatMode.flushingSubnormals { product(smallest, 0.5) }
  let after = product(smallest, 0.5)
  #if arch(x86_64)
    #expect(inside == 0)
  #else
    #expect(inside == smallest / 2)
  #endif
  #expect(after == smallest / 2)
  #expect(after.isSubnormal)
}

@Test(arguments: [[5, 3], [5], []])
func unitChunksChangeNoBit(hidden: [Int]) {
  // Forward and backward over rows in chunks of 1, 40 and 768 keys (the default) must equal
  // one pass over the whole batch bit for bit. The rows have 0 to 900 keys, so chunks end
  // inside and after long rows.
  let q = 6
  var offset = 0
  let unit = ActivationUnit(queryWidth: q, hidden: hidden, offset: &offset)
  let parameters = randomValues(offset, seed: 51).map { $0 * 0.5 }
  let lengths = [3, 0, 50, 900, 1, 37, 0, 120, 64, 7, 300, 2]
  var keyStart = [0]
  for length in lengths { keyStart.append(keyStart[keyStart.count - 1] + length) }
  let rows = lengths.count
  let keyCount = keyStart[rows]
  let keys = randomValues(keyCount * q, seed: 52)
  let queries = randomValues(rows * q, seed: 53)
  let upstream = randomValues(keyCount, seed: 54)

  func run(chunkKeys: Int) -> (
    weights: [Float], gradients: [Float], keys: [Float], queries: [Float]
  ) {
    unitPass(
      unit, parameters, keys: keys, queries: queries, keyStart: keyStart, upstream: upstream,
      chunkKeys: chunkKeys)
  }

  let whole = run(chunkKeys: .max)
  #expect(whole.gradients.contains { $0 != 0 })
  for chunkKeys in [1, 40, ActivationUnit.defaultChunkKeys] {
    let chunked = run(chunkKeys: chunkKeys)
    #expect(chunked.weights.map(\.bitPattern) == whole.weights.map(\.bitPattern), "\(chunkKeys)")
    #expect(
      chunked.gradients.map(\.bitPattern) == whole.gradients.map(\.bitPattern), "\(chunkKeys)")
    #expect(chunked.keys.map(\.bitPattern) == whole.keys.map(\.bitPattern), "\(chunkKeys)")
    #expect(chunked.queries.map(\.bitPattern) == whole.queries.map(\.bitPattern), "\(chunkKeys)")
  }
}

/// Runs the unit's forward and backward passes over `keyStart.count - 1` rows with `upstream`
/// as the key weights' gradient, and returns the key weights and every gradient.
private func unitPass(
  _ unit: ActivationUnit, _ parameters: [Float], keys: [Float], queries: [Float], keyStart: [Int],
  upstream: [Float], chunkKeys: Int = ActivationUnit.defaultChunkKeys
) -> (weights: [Float], gradients: [Float], keys: [Float], queries: [Float]) {
  let rows = keyStart.count - 1
  let activations = unit.forward(
    parameters, keys: keys, queries: queries, keyStart: keyStart, rows: rows,
    chunkKeys: chunkKeys)
  var gradients = [Float](repeating: 0, count: parameters.count)
  var keyGradient = [Float](repeating: 0, count: keys.count)
  var queryGradient = [Float](repeating: 0, count: queries.count)
  unit.backward(
    parameters, gradients: &gradients, activations: activations, keys: keys, queries: queries,
    keyStart: keyStart, rows: rows, weightGradient: upstream, keyGradient: &keyGradient,
    queryGradient: &queryGradient, chunkKeys: chunkKeys)
  return (activations.weights, gradients, keyGradient, queryGradient)
}
