//! The few layer constructors every network goes through.
//!
//! Convolution and BatchNorm are built only here, so the CPU custom ops of
//! [`crate::ops`] replace candle's in one place.

use crate::error::{Error, Result};
use crate::init;
use candle_core::{Module, ModuleT, Tensor, Var};
use candle_nn::{Init, VarBuilder};

/// A 2-D convolution (square kernel, no dilation, no groups); on the CPU it
/// runs [`crate::ops::conv2d`].
#[derive(Debug, Clone)]
pub(crate) struct Conv2d {
    weight: Tensor,
    /// Shaped `(1, O, 1, 1)` to broadcast over the output.
    bias: Option<Tensor>,
    stride: usize,
    padding: usize,
}

pub(crate) struct ConvSpec {
    pub in_c: usize,
    pub out_c: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub bias: bool,
}

/// A convolution whose weight follows `init` and whose bias (if any) follows PyTorch's default.
pub(crate) fn conv2d(spec: ConvSpec, init: Init, vb: VarBuilder) -> candle_core::Result<Conv2d> {
    let ConvSpec {
        in_c,
        out_c,
        kernel,
        stride,
        padding,
        bias,
    } = spec;
    let weight = vb.get_with_hints((out_c, in_c, kernel, kernel), "weight", init)?;
    let bias = if bias {
        let fan_in = in_c * kernel * kernel;
        let b = vb.get_with_hints(out_c, "bias", init::torch_default_uniform(fan_in))?;
        Some(b.reshape((1, out_c, 1, 1))?)
    } else {
        None
    };
    Ok(Conv2d {
        weight,
        bias,
        stride,
        padding,
    })
}

impl Module for Conv2d {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let ys = crate::ops::conv2d(xs, &self.weight, self.stride, self.padding)?;
        match &self.bias {
            Some(b) => ys.broadcast_add(b),
            None => Ok(ys),
        }
    }
}

/// BatchNorm over dimension 1 (BatchNorm1d on `(B, C)`, BatchNorm2d on `(B, C, H, W)`);
/// on the CPU it runs the fused [`crate::ops::batch_norm`].
///
/// PyTorch refuses training-mode BatchNorm with one value per channel (the
/// unbiased variance divides by zero); candle would silently write `inf` into
/// the running variance, so that case is an error here.
#[derive(Debug, Clone)]
pub(crate) struct BatchNorm(candle_nn::BatchNorm);

/// PyTorch's and candle's BatchNorm defaults (keras momentum 0.9 = 0.1 here).
pub(crate) const BN_EPS: f64 = 1e-5;
pub(crate) const BN_MOMENTUM: f64 = 0.1;

pub(crate) fn batch_norm(num_features: usize, vb: VarBuilder) -> candle_core::Result<BatchNorm> {
    let cfg = candle_nn::BatchNormConfig {
        eps: BN_EPS,
        remove_mean: true,
        affine: true,
        momentum: BN_MOMENTUM,
    };
    Ok(BatchNorm(candle_nn::batch_norm(num_features, cfg, vb)?))
}

impl BatchNorm {
    pub(crate) fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_impl(xs, train, false)
    }

    /// `relu(bn(xs))` as one op on the CPU (one pass less forward and backward).
    pub(crate) fn forward_relu_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_impl(xs, train, true)
    }

    fn forward_impl(&self, xs: &Tensor, train: bool, relu: bool) -> Result<Tensor> {
        if train {
            let per_channel: usize = xs
                .dims()
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != 1)
                .map(|(_, d)| d)
                .product();
            if per_channel < 2 {
                return Err(Error::InputShape {
                    what: "training-mode BatchNorm input",
                    expected: "more than one value per channel (batch of at least 2)".into(),
                    got: xs.dims().to_vec(),
                });
            }
        }
        let bn = &self.0;
        let Some((weight, bias)) = bn.weight_and_bias() else {
            // Never the case here (`affine` is always on), but candle's own path covers it.
            let ys = bn.forward_t(xs, train)?;
            return Ok(if relu { ys.relu()? } else { ys });
        };
        // Both are variables of the VarMap: `from_tensor` shares their storage,
        // so the op updates the saved running statistics in place.
        let running_mean = Var::from_tensor(bn.running_mean())?;
        let running_var = Var::from_tensor(bn.running_var())?;
        let opts = crate::ops::BatchNormOptions {
            eps: bn.eps(),
            momentum: bn.momentum(),
            relu,
        };
        Ok(crate::ops::batch_norm(
            xs,
            weight,
            bias,
            &running_mean,
            &running_var,
            train,
            opts,
        )?)
    }
}

/// A fully connected layer `y = x Wᵀ + b` over the last dimension.
#[derive(Debug, Clone)]
pub(crate) struct Linear(candle_nn::Linear);

/// A linear layer with PyTorch's default initialisation (`U(±1/sqrt(in))` for weight and bias).
pub(crate) fn linear(
    in_dim: usize,
    out_dim: usize,
    bias: bool,
    vb: VarBuilder,
) -> candle_core::Result<Linear> {
    let default = init::torch_default_uniform(in_dim);
    linear_with(in_dim, out_dim, default, bias.then_some(default), vb)
}

/// A linear layer whose weight follows `w_init` and whose bias (if any) follows `b_init`.
pub(crate) fn linear_with(
    in_dim: usize,
    out_dim: usize,
    w_init: Init,
    b_init: Option<Init>,
    vb: VarBuilder,
) -> candle_core::Result<Linear> {
    let weight = vb.get_with_hints((out_dim, in_dim), "weight", w_init)?;
    let bias = match b_init {
        Some(h) => Some(vb.get_with_hints(out_dim, "bias", h)?),
        None => None,
    };
    Ok(Linear(candle_nn::Linear::new(weight, bias)))
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.0.forward(xs)
    }
}

impl Linear {
    /// The `(out, in)` weight, for layers that fuse their own forward pass.
    pub(crate) fn weight(&self) -> &Tensor {
        self.0.weight()
    }

    /// The `(out,)` bias, if any.
    pub(crate) fn bias(&self) -> Option<&Tensor> {
        self.0.bias()
    }
}

/// Checks a `(B, C, H, W)` image batch with `channels` channels and returns `(B, C, H, W)`.
pub(crate) fn check_images(
    xs: &Tensor,
    channels: usize,
    what: &'static str,
) -> Result<(usize, usize, usize, usize)> {
    match *xs.dims() {
        [b, c, h, w] if c == channels && b > 0 && h > 0 && w > 0 => Ok((b, c, h, w)),
        _ => Err(Error::InputShape {
            what,
            expected: format!("(B, {channels}, H, W) with B, H, W > 0"),
            got: xs.dims().to_vec(),
        }),
    }
}

/// Checks a `(B, dim)` batch of vectors.
pub(crate) fn check_vectors(xs: &Tensor, dim: usize, what: &'static str) -> Result<()> {
    match *xs.dims() {
        [b, d] if d == dim && b > 0 => Ok(()),
        _ => Err(Error::InputShape {
            what,
            expected: format!("(B, {dim}) with B > 0"),
            got: xs.dims().to_vec(),
        }),
    }
}
