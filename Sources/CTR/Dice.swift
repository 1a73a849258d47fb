// Dice, the data-adaptive activation of Deep Interest Network (Zhou et al., KDD 2018), for the
// hidden layers of the final MLP: forward and backward through batch or moving statistics.
// Alphas live in the model's dense array and moving statistics in the model; nothing here owns state.

/// The activation of the final MLP's hidden layers.
public enum MLPActivation: String, Sendable, CaseIterable {
  /// max(0, s).
  case relu
  /// Dice: f(s) = p(s) s + (1 - p(s)) alpha s with p(s) = sigmoid((s - mean) / sqrt(var + eps)),
  /// one learned alpha per hidden unit.
  case dice
}

/// Per-unit mean and variance of the pre-activations of every Dice layer, layer after layer.
struct DiceStatistics: Sendable, Equatable {
  var mean: [Float]
  var variance: [Float]

  /// Returns the starting moving statistics: mean 0 and variance 1 for every unit.
  static func initial(units: Int) -> DiceStatistics {
    DiceStatistics(
      mean: [Float](repeating: 0, count: units), variance: [Float](repeating: 1, count: units))
  }
}

/// Moving averages of the Dice statistics that prediction normalizes with.
struct DiceMovingStatistics: Sendable, Equatable {
  var values: DiceStatistics
  /// The number of training steps that have updated `values`.
  var updates: UInt64

  /// The exponential moving average's weight on the old value once warmed up.
  static let momentum = 0.99

  /// Returns averages of mean 0 and variance 1 that no step has updated yet.
  static func initial(units: Int) -> DiceMovingStatistics {
    DiceMovingStatistics(values: .initial(units: units), updates: 0)
  }

  /// Folds one training step into the averages.
  ///
  /// `shares` are the statistics of each thread's contiguous share of the step's rows, in row
  /// order, with their row counts. The step's value is the row-weighted mean of the shares'
  /// means and of their variances, so the variance is the within-share variance that training
  /// normalized with. The average's weight on the old value is min(0.99, t / (t + 1)) after t
  /// updates: a plain running mean for the first 100 steps, then an exponential moving average,
  /// so the starting values (0 and 1) leave no bias behind.
  mutating func update(shares: [(rows: Int, statistics: DiceStatistics)]) {
    let total = shares.reduce(0) { $0 + $1.rows }
    guard total > 0 else { return }
    let t = Double(updates)
    let keep = min(Self.momentum, t / (t + 1))
    for unit in values.mean.indices {
      var mean = 0.0
      var variance = 0.0
      for share in shares {
        let weight = Double(share.rows) / Double(total)
        mean += weight * Double(share.statistics.mean[unit])
        variance += weight * Double(share.statistics.variance[unit])
      }
      values.mean[unit] = Float(keep * Double(values.mean[unit]) + (1 - keep) * mean)
      values.variance[unit] = Float(keep * Double(values.variance[unit]) + (1 - keep) * variance)
    }
    updates += 1
  }
}

/// The statistics a Dice forward pass normalizes with.
enum DiceNormalization {
  /// Each column's mean and biased variance over the rows of the call (training).
  case batch
  /// Stored statistics (prediction), so a row's output never depends on its batch.
  case moving(DiceStatistics)
}

/// One Dice layer of `width` units: its alphas sit at `alphaOffset` of the dense array, and its
/// statistics at `statisticsOffset` of ``DiceStatistics``.
struct DiceActivation: Sendable, Equatable {
  var width: Int
  var alphaOffset: Int
  var statisticsOffset: Int

  /// The eps of sqrt(var + eps). It is added in Double, where it still bounds
  /// 1 / sqrt(var + eps) by 1e4 when a column's variance is 0 (for example a share of one row).
  /// In Float it would vanish beside any variance of 0.5 or more.
  static let epsilon = 1e-8

  /// The values the backward pass reads.
  struct Cache {
    /// s [rows x width], the pre-activations.
    var input: [Float]
    /// (s - mean) / sqrt(var + eps) [rows x width].
    var normalized: [Float]
    /// p(s) = sigmoid(normalized) [rows x width].
    var gate: [Float]
    /// 1 / sqrt(var + eps) [width].
    var inverseDeviation: [Float]
    /// The statistics the pass normalized with.
    var statistics: DiceStatistics
    var usesBatchStatistics: Bool
  }

  /// Returns each column's mean and biased variance over `rows` rows, summed in Double in row
  /// order.
  func batchStatistics(_ input: [Float], rows: Int) -> DiceStatistics {
    var sums = [Double](repeating: 0, count: width)
    for b in 0..<rows {
      for j in 0..<width { sums[j] += Double(input[b * width + j]) }
    }
    let means = sums.map { $0 / Double(max(rows, 1)) }
    var squares = [Double](repeating: 0, count: width)
    for b in 0..<rows {
      for j in 0..<width {
        let deviation = Double(input[b * width + j]) - means[j]
        squares[j] += deviation * deviation
      }
    }
    return DiceStatistics(
      mean: means.map { Float($0) }, variance: squares.map { Float($0 / Double(max(rows, 1))) })
  }

  // Forward. s [rows x width] -> y [rows x width] with y = p s + (1 - p) alpha s,
  // p = sigmoid((s - mean) / sqrt(var + eps)).
  func forward(
    _ parameters: [Float], input: [Float], rows: Int, normalization: DiceNormalization
  ) -> (output: [Float], cache: Cache) {
    let statistics: DiceStatistics
    switch normalization {
    case .batch:
      statistics = batchStatistics(input, rows: rows)
    case .moving(let moving):
      let range = statisticsOffset..<(statisticsOffset + width)
      statistics = DiceStatistics(
        mean: Array(moving.mean[range]), variance: Array(moving.variance[range]))
    }
    let inverseDeviation = statistics.variance.map {
      Float(1 / (Double($0) + Self.epsilon).squareRoot())
    }
    let count = rows * width
    var normalized = [Float](repeating: 0, count: count)
    var gate = [Float](repeating: 0, count: count)
    var output = [Float](repeating: 0, count: count)
    for b in 0..<rows {
      for j in 0..<width {
        let index = b * width + j
        let s = input[index]
        let alpha = parameters[alphaOffset + j]
        let x = (s - statistics.mean[j]) * inverseDeviation[j]
        let p = Probability.sigmoid(x)
        normalized[index] = x
        gate[index] = p
        output[index] = p * s + (1 - p) * alpha * s
      }
    }
    let usesBatch: Bool
    if case .batch = normalization { usesBatch = true } else { usesBatch = false }
    return (
      output,
      Cache(
        input: input, normalized: normalized, gate: gate, inverseDeviation: inverseDeviation,
        statistics: statistics, usesBatchStatistics: usesBatch)
    )
  }

  // Backward. dy [rows x width] -> ds [rows x width]; adds d alpha to `gradients`.
  // With x = (s - mean) / sigma and g = dy s (1 - alpha) p (1 - p) = dL/dx:
  //   d alpha_j = sum_b dy (1 - p) s,
  //   ds = dy (p + (1 - p) alpha) + (g - mean_b(g) - x mean_b(g x)) / sigma   (batch statistics),
  //   ds = dy (p + (1 - p) alpha) + g / sigma                                (moving statistics).
  // The batch form is the batch-normalization backward pass (Ioffe and Szegedy, 2015), where the
  // mean and the biased variance depend on every row of the call.
  func backward(
    _ parameters: [Float], gradients: inout [Float], cache: Cache, outputGradient: [Float],
    rows: Int
  ) -> [Float] {
    let count = rows * width
    var normalizedGradient = [Float](repeating: 0, count: count)
    var inputGradient = [Float](repeating: 0, count: count)
    var alphaGradient = [Float](repeating: 0, count: width)
    for b in 0..<rows {
      for j in 0..<width {
        let index = b * width + j
        let dy = outputGradient[index]
        let s = cache.input[index]
        let p = cache.gate[index]
        let alpha = parameters[alphaOffset + j]
        alphaGradient[j] += dy * (1 - p) * s
        normalizedGradient[index] = dy * s * (1 - alpha) * p * (1 - p)
        inputGradient[index] = dy * (p + (1 - p) * alpha)
      }
    }
    for j in 0..<width {
      gradients[alphaOffset + j] += alphaGradient[j]
    }

    guard cache.usesBatchStatistics else {
      for b in 0..<rows {
        for j in 0..<width {
          let index = b * width + j
          inputGradient[index] += normalizedGradient[index] * cache.inverseDeviation[j]
        }
      }
      return inputGradient
    }

    var gradientSums = [Double](repeating: 0, count: width)
    var productSums = [Double](repeating: 0, count: width)
    for b in 0..<rows {
      for j in 0..<width {
        let index = b * width + j
        gradientSums[j] += Double(normalizedGradient[index])
        productSums[j] += Double(normalizedGradient[index]) * Double(cache.normalized[index])
      }
    }
    let scale = 1 / Double(max(rows, 1))
    let gradientMeans = gradientSums.map { Float($0 * scale) }
    let productMeans = productSums.map { Float($0 * scale) }
    for b in 0..<rows {
      for j in 0..<width {
        let index = b * width + j
        let centered =
          normalizedGradient[index] - gradientMeans[j] - cache.normalized[index] * productMeans[j]
        inputGradient[index] += centered * cache.inverseDeviation[j]
      }
    }
    return inputGradient
  }
}

/// The final MLP's activations when its hidden layers use Dice.
struct DiceMLPActivations {
  /// One output per layer, [rows x layer.outputs] each; hidden outputs are after Dice.
  var outputs: [[Float]]
  /// One cache per hidden layer.
  var caches: [DiceActivation.Cache]
}

extension MLP {
  // Forward with Dice hidden layers. x [rows x inputs] -> every layer's output; the last layer
  // is linear.
  func forward(
    _ parameters: [Float], input: [Float], rows: Int, normalization: DiceNormalization
  ) -> DiceMLPActivations {
    var result = DiceMLPActivations(outputs: [], caches: [])
    parameters.withUnsafeBufferPointer { pointer in
      guard let pointer = pointer.baseAddress else { return }
      for (index, layer) in layers.enumerated() {
        var output = Kernels.uninitializedBuffer(count: rows * layer.outputs)
        let source = index == 0 ? input : result.outputs[index - 1]
        source.withUnsafeBufferPointer { source in
          output.withUnsafeMutableBufferPointer { output in
            guard let source = source.baseAddress, let output = output.baseAddress else { return }
            layer.forward(pointer, input: source, output: output, rows: rows, relu: false)
          }
        }
        if index < dice.count {
          let (activated, cache) = dice[index].forward(
            parameters, input: output, rows: rows, normalization: normalization)
          output = activated
          result.caches.append(cache)
        }
        result.outputs.append(output)
      }
    }
    return result
  }

  // Backward with Dice hidden layers. dy [rows x outputs] of the last layer; adds weight and
  // alpha gradients to `gradients` and returns dx [rows x inputs] when `needInputGradient`.
  func backward(
    _ parameters: [Float], gradients: inout [Float], input: [Float],
    activations: DiceMLPActivations, outputGradient: [Float], rows: Int, needInputGradient: Bool
  ) -> [Float] {
    var upstream = outputGradient
    for index in stride(from: layers.count - 1, through: 0, by: -1) {
      let layer = layers[index]
      let wantInput = index > 0 || needInputGradient
      // layer.backward overwrites every element of dx.
      var downstream = Kernels.uninitializedBuffer(count: wantInput ? rows * layer.inputs : 0)
      let source = index == 0 ? input : activations.outputs[index - 1]
      parameters.withUnsafeBufferPointer { parameters in
        gradients.withUnsafeMutableBufferPointer { gradients in
          source.withUnsafeBufferPointer { source in
            upstream.withUnsafeBufferPointer { upstream in
              downstream.withUnsafeMutableBufferPointer { downstream in
                guard let parameters = parameters.baseAddress,
                  let gradients = gradients.baseAddress, let source = source.baseAddress,
                  let upstream = upstream.baseAddress
                else { return }
                layer.backward(
                  parameters, gradients: gradients, input: source, outputGradient: upstream,
                  inputGradient: wantInput ? downstream.baseAddress : nil, rows: rows)
              }
            }
          }
        }
      }
      if index > 0 {
        downstream = dice[index - 1].backward(
          parameters, gradients: &gradients, cache: activations.caches[index - 1],
          outputGradient: downstream, rows: rows)
      }
      upstream = downstream
    }
    return needInputGradient ? upstream : []
  }
}
