// Randomized shapes against the kernels' contract: every element of a product is the plain
// ascending-k chain of fused multiply-adds, bit for bit, whichever block, panel or tile path
// computes it. The seeds are fixed, so a failure repeats with the shape it prints.

import Testing

@testable import CTR

/// One call of a kernel entry point, with the reference that it must match.
private enum KernelCall: CaseIterable, CustomStringConvertible {
  case accumulate
  case overwrite
  case masked
  case bias
  case biasReLU
  case transposed
  case strided
  case stridedOverwrite

  var description: String {
    switch self {
    case .accumulate: "multiplyAccumulate"
    case .overwrite: "multiply"
    case .masked: "multiply(mask:)"
    case .bias: "multiply(bias:rectify: false)"
    case .biasReLU: "multiply(bias:rectify: true)"
    case .transposed: "multiplyAccumulateTransposed"
    case .strided: "multiplyAccumulate(rowStride:overwrite: false)"
    case .stridedOverwrite: "multiplyAccumulate(rowStride:overwrite: true)"
    }
  }
}

/// Random values in [-1, 1) with about one in `specialEvery` replaced by 0, -0, a large
/// magnitude or a value whose products are near the subnormal range, so that chains reach
/// large magnitudes and cancel.
private func randomOperands(_ count: Int, _ random: inout SplitMix64, specialEvery: Int) -> [Float]
{
  let specials: [Float] = [0, -0.0, 3e18, -3e18, 1e-19, -2.5, 65504, 1]
  return (0..<count).map { _ in
    if specialEvery > 0 && random.next() % UInt64(specialEvery) == 0 {
      return specials[Int(random.next() % UInt64(specials.count))]
    }
    return random.nextFloat(in: -1..<1)
  }
}

/// True when both are NaN or both have the same bits. NaN payloads are not part of the
/// contract: which operand's payload a fused multiply-add keeps depends on register allocation.
private func sameBits(_ x: Float, _ y: Float) -> Bool {
  x.bitPattern == y.bitPattern || (x.isNaN && y.isNaN)
}

/// Returns the reference result of `call`: each element the ascending-k chain, starting from
/// `start` for accumulating calls and from +0 otherwise, then bias, ReLU or mask.
private func referenceProduct(
  _ call: KernelCall, a: [Float], b: [Float], start: [Float], mask: [Float], bias: [Float],
  m: Int, k: Int, n: Int, rowStride: Int
) -> [Float] {
  var c = [Float](repeating: 0, count: m * n)
  let accumulates = [.accumulate, .transposed, .strided].contains(call)
  // The transposed entry point reads element (i, p) of `a` at p * m + i.
  let strides = call == .transposed ? (row: 1, depth: m) : (row: rowStride, depth: 1)
  a.withUnsafeBufferPointer { a in
    b.withUnsafeBufferPointer { b in
      for i in 0..<m {
        for j in 0..<n {
          var sum: Float = accumulates ? start[i * n + j] : 0
          var left = i * strides.row
          var right = j
          for _ in 0..<k {
            sum = sum.addingProduct(a[left], b[right])
            left += strides.depth
            right += n
          }
          switch call {
          case .masked:
            if !(mask[i * n + j] > 0) { sum = 0 }
          case .bias:
            sum += bias[j]
          case .biasReLU:
            sum += bias[j]
            if sum < 0 { sum = 0 }
          default:
            break
          }
          c[i * n + j] = sum
        }
      }
    }
  }
  return c
}

/// Runs `call` on the kernels and returns `c`. Overwriting calls start from NaN to show that
/// they never read it.
private func kernelProduct(
  _ call: KernelCall, a: [Float], b: [Float], start: [Float], mask: [Float], bias: [Float],
  m: Int, k: Int, n: Int, rowStride: Int
) -> [Float] {
  var c: [Float]
  switch call {
  case .accumulate, .transposed, .strided: c = start
  case .overwrite, .masked, .bias, .biasReLU, .stridedOverwrite:
    c = [Float](repeating: .nan, count: m * n)
  }
  // Empty arrays may have no base address, and the kernels must not read through it then.
  let placeholder = UnsafeMutablePointer<Float>.allocate(capacity: 1)
  defer { placeholder.deallocate() }
  a.withUnsafeBufferPointer { a in
    b.withUnsafeBufferPointer { b in
      mask.withUnsafeBufferPointer { mask in
        bias.withUnsafeBufferPointer { bias in
          c.withUnsafeMutableBufferPointer { c in
            let a = a.baseAddress ?? UnsafePointer(placeholder)
            let b = b.baseAddress ?? UnsafePointer(placeholder)
            let mask = mask.baseAddress ?? UnsafePointer(placeholder)
            let bias = bias.baseAddress ?? UnsafePointer(placeholder)
            let c = c.baseAddress ?? placeholder
            switch call {
            case .accumulate:
              Kernels.multiplyAccumulate(a, b, c, m: m, k: k, n: n)
            case .overwrite:
              Kernels.multiply(a, b, c, m: m, k: k, n: n)
            case .masked:
              Kernels.multiply(a, b, c, m: m, k: k, n: n, mask: mask)
            case .bias:
              Kernels.multiply(a, b, c, m: m, k: k, n: n, bias: bias, rectify: false)
            case .biasReLU:
              Kernels.multiply(a, b, c, m: m, k: k, n: n, bias: bias, rectify: true)
            case .transposed:
              Kernels.multiplyAccumulateTransposed(a, b, c, rows: k, m: m, n: n)
            case .strided:
              Kernels.multiplyAccumulate(
                a, rowStride: rowStride, b, c, m: m, k: k, n: n, overwrite: false)
            case .stridedOverwrite:
              Kernels.multiplyAccumulate(
                a, rowStride: rowStride, b, c, m: m, k: k, n: n, overwrite: true)
            }
          }
        }
      }
    }
  }
  return c
}

/// Returns a message naming the first element that differs, or nil when every bit agrees.
private func firstDifference(_ kernel: [Float], _ reference: [Float], n: Int) -> String? {
  guard kernel.count == reference.count else {
    return "count \(kernel.count), expected \(reference.count)"
  }
  for index in kernel.indices where !sameBits(kernel[index], reference[index]) {
    let row = index / max(n, 1)
    let column = index % max(n, 1)
    return "element (\(row), \(column)) is \(kernel[index]), expected \(reference[index])"
  }
  return nil
}

/// Shapes that cross each path: the packed product (m >= 48, n > 80) with its 48- and
/// 32-column panels and 192-row blocks, the in-place tile (n <= 80), row blocks of 8, 6, 4,
/// 2 and 1, k tiles of 256, and one-column products. The listed shapes come first, then
/// random ones.
private func kernelShapes() -> [(m: Int, k: Int, n: Int)] {
  var shapes: [(m: Int, k: Int, n: Int)] = [
    (0, 5, 100), (5, 0, 100), (48, 0, 81), (60, 7, 0), (0, 0, 0), (1, 1, 1),
    (47, 9, 81), (48, 9, 80), (48, 9, 81), (48, 9, 96), (49, 257, 100), (50, 256, 128),
    (193, 3, 81), (194, 5, 130), (385, 2, 97), (200, 255, 200), (62, 513, 82),
    (48, 40, 2048), (50, 3, 2047), (9, 20, 2048), (2, 300, 200), (3, 17, 113),
    (300, 257, 1), (64, 600, 1), (17, 256, 1), (23, 1, 2), (8, 9, 3), (10, 9, 3),
    (96, 11, 176), (96, 11, 143), (96, 11, 144), (96, 11, 159), (96, 11, 160), (96, 11, 121),
  ]
  var random = SplitMix64(seed: 0x5eed_0001)
  let columns =
    [1, 2, 3, 4, 5, 8, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 79, 80, 81, 82]
    + [95, 96, 97, 100, 111, 112, 127, 128, 129, 150, 177, 200, 255, 256, 300]
  for _ in 0..<60 {
    let m = Int(random.next() % 260)
    let k = Int(random.next() % 600)
    let n = columns[Int(random.next() % UInt64(columns.count))]
    shapes.append((m, k, n))
  }
  return shapes
}

@Test func kernelsMatchScalarChainOnRandomShapes() {
  var random = SplitMix64(seed: 0x5eed_0002)
  var compared = 0
  for (index, shape) in kernelShapes().enumerated() {
    let (m, k, n) = shape
    // Bound the reference loop's work so the test stays fast in debug builds: a large shape
    // runs fewer of the calls, starting from one picked by the shape's index.
    let all = KernelCall.allCases
    let callCount = min(all.count, max(1, 150_000 / max(m * k * n, 1)))
    let calls = (0..<callCount).map { all[(index + $0) % all.count] }
    for call in calls {
      // Half the strided calls read rows of `a` with 3 extra Floats between them.
      let strided = call == .strided || call == .stridedOverwrite
      let rowStride = strided && index % 2 == 0 ? k + 3 : k
      let aCount = call == .transposed ? k * m : max(m - 1, 0) * rowStride + (m > 0 ? k : 0)
      let specialEvery = index % 3 == 0 ? 0 : 40
      let a = randomOperands(aCount, &random, specialEvery: specialEvery)
      let b = randomOperands(k * n, &random, specialEvery: specialEvery)
      let start = randomOperands(m * n, &random, specialEvery: 0)
      var mask = randomOperands(m * n, &random, specialEvery: 10)
      if !mask.isEmpty { mask[mask.count - 1] = .nan }
      let bias = randomOperands(n, &random, specialEvery: 0)
      let reference = referenceProduct(
        call, a: a, b: b, start: start, mask: mask, bias: bias, m: m, k: k, n: n,
        rowStride: rowStride)
      let kernel = kernelProduct(
        call, a: a, b: b, start: start, mask: mask, bias: bias, m: m, k: k, n: n,
        rowStride: rowStride)
      let difference = firstDifference(kernel, reference, n: n)
      #expect(difference == nil, "\(call) m \(m) k \(k) n \(n): \(difference ?? "")")
      compared += 1
    }
  }
  #expect(compared > 150)
}
