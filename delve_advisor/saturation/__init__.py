"""Saturation: online covariance of layer activations, its spectrum, and the tracker."""

from delve_advisor.saturation.covariance import CovarianceAccumulator
from delve_advisor.saturation.handlers import (
    CONV_METHODS,
    TIMESERIES_METHODS,
    ConvHandler,
    HandlerConfig,
    LayerHandler,
    LinearHandler,
    RecurrentHandler,
    get_layer_handler,
    list_layer_handlers,
    register_layer_handler,
)
from delve_advisor.saturation.result import EpochResult, LayerSaturation
from delve_advisor.saturation.spectrum import (
    Spectrum,
    compute_spectrum,
    intrinsic_dimension,
    saturation,
)
from delve_advisor.saturation.tracker import VALID_STATS, CheckLayerSat, SaturationTracker
from delve_advisor.saturation.writers import (
    AbstractWriter,
    CompositeWriter,
    CSVWriter,
    NPYWriter,
    PlotWriter,
    PrintWriter,
    TensorBoardWriter,
    list_writers,
    load_npy_covariances,
    recompute_saturation,
    register_writer,
)

__all__ = [
    "CONV_METHODS",
    "TIMESERIES_METHODS",
    "VALID_STATS",
    "AbstractWriter",
    "CSVWriter",
    "CheckLayerSat",
    "CompositeWriter",
    "ConvHandler",
    "CovarianceAccumulator",
    "EpochResult",
    "HandlerConfig",
    "LayerHandler",
    "LayerSaturation",
    "LinearHandler",
    "NPYWriter",
    "PlotWriter",
    "PrintWriter",
    "RecurrentHandler",
    "SaturationTracker",
    "Spectrum",
    "TensorBoardWriter",
    "compute_spectrum",
    "get_layer_handler",
    "intrinsic_dimension",
    "list_layer_handlers",
    "list_writers",
    "load_npy_covariances",
    "recompute_saturation",
    "register_layer_handler",
    "register_writer",
    "saturation",
]
