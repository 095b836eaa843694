"""Several processes, one model: data parallelism with PyTorch's own `torch.distributed`.

Launch with `torchrun` (one process per GPU, or several CPU processes); it sets RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT, and `setup()` reads them. Without a
launcher those variables are absent and the same code runs as one ordinary process.

What each rank does:
* reads its own shard of the data (minibert.pretraining_data: document j -> rank j % world_size);
* holds a full copy of the model, wrapped in DistributedDataParallel, which averages the
  gradients of all ranks during backward, so every rank takes the same optimizer step;
  or, with strategy="fsdp", holds 1/world_size of every weight (FSDP2's `fully_shard`) for
  models that do not fit one device;
* only rank 0 writes checkpoints and prints progress.

Every collective has a timeout (`setup(timeout=...)`): a rank that dies makes the others
fail with an error instead of waiting forever, and torchrun then stops the whole job.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from minibert import validation

STRATEGIES = ("ddp", "fsdp")
_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistributedContext:
    """Who this process is. The default is a single process on the CPU."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None  # None: no process group

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """`device` checked to exist on this machine (minibert.validation.check_device); by default
    cuda when a GPU is there, else cpu."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return validation.check_device(device)


def setup(device: str | torch.device | None = None, timeout: timedelta = timedelta(minutes=10)) -> DistributedContext:
    """Join the process group described by torchrun's environment variables, or return a
    single-process context when they are absent.

    The backend follows the device: NCCL for CUDA, Gloo for the CPU. On CUDA each process
    takes the GPU `LOCAL_RANK` (its index on its own node).
    """
    device = resolve_device(device)
    present = [name for name in _TORCHRUN_VARIABLES if name in os.environ]
    if not present:
        return DistributedContext(device=device)
    missing = [name for name in _TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise ValueError(
            f"{', '.join(present)} {'is' if len(present) == 1 else 'are'} set but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not: launch with torchrun, which sets all of "
            f"{', '.join(_TORCHRUN_VARIABLES)}, or unset them to run as one process"
        )
    rank, world_size, local_rank = (_int_variable(n) for n in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    if not 0 <= rank < world_size:
        raise ValueError(f"RANK={rank} is outside 0..WORLD_SIZE-1 (WORLD_SIZE={world_size})")

    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"LOCAL_RANK={local_rank} but this node has {torch.cuda.device_count()} GPUs: "
                "use --nproc-per-node no larger than the number of GPUs"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world_size, timeout=timeout,
                                device_id=device if device.type == "cuda" else None)
    return DistributedContext(rank, world_size, local_rank, device, backend)


def teardown(ctx: DistributedContext) -> None:
    if ctx.backend is not None and dist.is_initialized():
        dist.destroy_process_group()


def _int_variable(name: str) -> int:
    value = os.environ[name]
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from None


# ---------------------------------------------------------------------------------------
# Wrapping the model
# ---------------------------------------------------------------------------------------


def wrap_model(model: nn.Module, ctx: DistributedContext, strategy: str = "ddp") -> nn.Module:
    """The model, moved to this rank's device and wrapped for data parallelism.

    "ddp": every rank holds all weights; DistributedDataParallel all-reduces (averages) the
    gradients in buckets while backward is still running.
    "fsdp": each encoder layer and then the whole model are `fully_shard`ed (FSDP2): every
    rank stores 1/world_size of each weight and gathers a layer's full weights just before
    using it, which is what makes a model larger than one device trainable.
    One process: the model itself, unwrapped.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy {strategy!r} is not supported; choose one of {STRATEGIES}")
    model = model.to(ctx.device)
    if not ctx.is_distributed:
        return model
    if strategy == "ddp":
        device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    from torch.distributed.fsdp import fully_shard

    for module in model.modules():
        if type(module).__name__ == "EncoderLayer":
            fully_shard(module)
    fully_shard(model)
    return model


def unwrap_model(model: nn.Module) -> nn.Module:
    """The user's model inside a DDP wrapper (FSDP2 shards in place, so it is the model)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def is_sharded(model: nn.Module) -> bool:
    """True for an FSDP2 model, whose parameters are DTensor shards."""
    return any(type(p).__name__ == "DTensor" for p in model.parameters())


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every weight in full on the CPU, whatever the wrapping (collective under FSDP: call on every rank)."""
    model = unwrap_model(model)
    if is_sharded(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def full_optimizer_state_dict(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer's state in full on the CPU, keyed by parameter name, whatever the
    wrapping (collective under FSDP: call on every rank)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(
        unwrap_model(model), optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
    )


def load_full_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """The inverse of full_state_dict: every rank passes all the weights and keeps its part
    (all of them, or its shard under FSDP)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    set_model_state_dict(unwrap_model(model), state, options=StateDictOptions(full_state_dict=True))


def load_full_optimizer_state_dict(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """The inverse of full_optimizer_state_dict, the same way."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(unwrap_model(model), optimizer, state, options=StateDictOptions(full_state_dict=True))


def gradient_sync(model: nn.Module, enabled: bool) -> contextlib.AbstractContextManager:
    """Under DDP, `gradient_sync(model, False)` skips the all-reduce in backward: for every
    micro-batch of an accumulated step but the last, whose backward then averages the sum."""
    if enabled or not isinstance(model, nn.parallel.DistributedDataParallel):
        return contextlib.nullcontext()
    return model.no_sync()


# ---------------------------------------------------------------------------------------
# Small collectives
# ---------------------------------------------------------------------------------------


def all_reduce_sum(values: torch.Tensor, ctx: DistributedContext) -> torch.Tensor:
    """Sum of a tensor over all ranks (itself with one process)."""
    if not ctx.is_distributed:
        return values
    values = values.detach().to(ctx.device, torch.float64 if ctx.device.type == "cpu" else torch.float32).clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values.cpu()


def gather_objects(obj: Any, ctx: DistributedContext) -> list[Any]:
    """[rank 0's obj, rank 1's obj, ...] on every rank (picklable objects; small ones)."""
    if not ctx.is_distributed:
        return [obj]
    objects: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(objects, obj)
    return objects


def barrier(ctx: DistributedContext) -> None:
    if ctx.is_distributed:
        dist.barrier()
