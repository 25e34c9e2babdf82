"""Saturation: online covariance of layer activations, its spectrum, and the tracker."""

from delve_advisor._deprecation import deprecated_attributes
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
    unregister_layer_handler,
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
    DEPRECATED_NAMES,
    CompositeOutput,
    CSVOutput,
    NPYOutput,
    PlotOutput,
    PrintOutput,
    TensorBoardOutput,
    TrackerOutput,
    list_tracker_outputs,
    load_npy_covariances,
    recompute_saturation,
    register_tracker_output,
    unregister_tracker_output,
)

__all__ = [
    "CONV_METHODS",
    "TIMESERIES_METHODS",
    "VALID_STATS",
    "CSVOutput",
    "CheckLayerSat",
    "CompositeOutput",
    "ConvHandler",
    "CovarianceAccumulator",
    "EpochResult",
    "HandlerConfig",
    "LayerHandler",
    "LayerSaturation",
    "LinearHandler",
    "NPYOutput",
    "PlotOutput",
    "PrintOutput",
    "RecurrentHandler",
    "SaturationTracker",
    "Spectrum",
    "TensorBoardOutput",
    "TrackerOutput",
    "compute_spectrum",
    "get_layer_handler",
    "intrinsic_dimension",
    "list_layer_handlers",
    "list_tracker_outputs",
    "load_npy_covariances",
    "recompute_saturation",
    "register_layer_handler",
    "register_tracker_output",
    "saturation",
    "unregister_layer_handler",
    "unregister_tracker_output",
]

__getattr__ = deprecated_attributes(__name__, DEPRECATED_NAMES)
