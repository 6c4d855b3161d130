import math
import os

import numpy as np
import pytest

import pyengine as pe
import pyengine.optim as optim
from pyengine.nn import Parameter
from pyengine.optim import lr_scheduler
import reference as ref
from conftest import run_python

SHAPES = [(1,), (3, 11), (37,), (0,), (40009,)]  # 40009 crosses the drivers' thread grain


def run_trajectory(opt_cls, ref_step, kwargs, dtype, steps=5, shapes=SHAPES, ref_kwargs=None):
    """Runs `steps` updates of opt_cls on random parameters and gradients and
    compares every parameter after every step with ref_step in float64."""
    rng = np.random.default_rng(7)
    params = [Parameter(rng.standard_normal(s).astype(dtype)) for s in shapes]
    expected = [p.data.astype(np.float64) for p in params]
    states = [{} for _ in params]
    opt = opt_cls(params, **kwargs)
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)
    for _ in range(steps):
        for i, p in enumerate(params):
            g = rng.standard_normal(p.shape).astype(dtype)
            p.grad = pe.Tensor(g)
            expected[i] = ref_step(expected[i], g.astype(np.float64), states[i], **(ref_kwargs or kwargs))
        opt.step()
        for p, e in zip(params, expected):
            assert p.dtype == dtype
            np.testing.assert_allclose(p.data, e, **tol)
    return opt, params


CASES = [
    (optim.SGD, ref.sgd_step, dict(lr=0.1)),
    (optim.SGD, ref.sgd_step, dict(lr=0.1, momentum=0.9)),
    (optim.SGD, ref.sgd_step, dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01, maximize=True)),
    (optim.SGD, ref.sgd_step, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    (optim.Adam, ref.adam_step, dict(lr=0.01)),
    (optim.Adam, ref.adam_step, dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    (optim.Adam, ref.adam_step, dict(lr=0.01, maximize=True, amsgrad=True)),
    (optim.RMSprop, ref.rmsprop_step, dict(lr=0.01)),
    (optim.RMSprop, ref.rmsprop_step, dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1)),
    (optim.RMSprop, ref.rmsprop_step, dict(lr=0.01, momentum=0.3, maximize=True)),
    (optim.Adagrad, ref.adagrad_step, dict(lr=0.1)),
    (optim.Adagrad, ref.adagrad_step, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1,
                                           initial_accumulator_value=0.5, eps=1e-6, maximize=True)),
    (optim.Adadelta, ref.adadelta_step, dict()),
    (optim.Adadelta, ref.adadelta_step, dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1, maximize=True)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt_cls,ref_step,kwargs", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_trajectory_matches_update_rule(opt_cls, ref_step, kwargs, dtype):
    run_trajectory(opt_cls, ref_step, kwargs, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", [dict(lr=0.01), dict(lr=0.01, weight_decay=0.3, amsgrad=True, maximize=True)])
def test_adamw_decays_the_parameter(kwargs, dtype):
    defaults = dict(weight_decay=1e-2, **kwargs) if "weight_decay" not in kwargs else kwargs
    run_trajectory(optim.AdamW, ref.adam_step, kwargs, dtype, ref_kwargs=dict(defaults, decoupled=True))


def test_scalar_isa_path_matches_reference():
    code = (
        "import numpy as np, pyengine as pe, pyengine.optim as optim\n"
        "from pyengine.nn import Parameter\n"
        "import reference as ref\n"
        "assert pe.info()['isa'] == 'scalar'\n"
        "rng = np.random.default_rng(0)\n"
        "for dtype in (np.float32, np.float64):\n"
        "    p = Parameter(rng.standard_normal(45).astype(dtype)); e = p.data.astype(np.float64); s = {}\n"
        "    opt = optim.Adam([p], lr=0.01, amsgrad=True, weight_decay=0.1)\n"
        "    for _ in range(4):\n"
        "        g = rng.standard_normal(45).astype(dtype); p.grad = pe.Tensor(g)\n"
        "        e = ref.adam_step(e, g.astype(np.float64), s, lr=0.01, amsgrad=True, weight_decay=0.1)\n"
        "        opt.step()\n"
        "    np.testing.assert_allclose(p.data, e, rtol=2e-5, atol=2e-6)\n"
        "print('ok')\n")
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    result = run_python(["-c", code], env={"PYENGINE_ISA": "scalar", "PYTHONPATH": tests_dir})
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_results_do_not_depend_on_thread_count(threads):
    out = []
    for n in (1, 2):
        threads(n)
        opt, params = run_trajectory(optim.Adam, ref.adam_step, dict(lr=0.01), np.float32, steps=2,
                                     shapes=[(100003,)])
        out.append(params[0].data.copy())
    np.testing.assert_array_equal(out[0], out[1])


def test_parameters_without_grad_are_skipped_and_version_bumps():
    a, b = Parameter(np.ones(3, np.float32)), Parameter(np.ones(3, np.float32))
    opt = optim.SGD([a, b], lr=0.5)
    a.grad = pe.Tensor(np.ones(3, np.float32))
    version = a._version
    opt.step()
    np.testing.assert_array_equal(a.data, 0.5)
    np.testing.assert_array_equal(b.data, 1.0)
    assert a._version == version + 1 and b not in opt.state


def test_param_groups_override_defaults_and_add_param_group():
    a, b, c = (Parameter(np.ones(2, np.float32)) for _ in range(3))
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["momentum"] == 0.9
    opt.add_param_group({"params": [c], "lr": 1.0})
    for p in (a, b, c):
        p.grad = pe.Tensor(np.ones(2, np.float32))
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0], c.data[0]], [0.9, 0.5, 0.0])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="ordered collections"):
        optim.Adam({a})
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.Adam([a], lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([a], lr=0.1, nesterov=True)


def test_zero_grad():
    p = Parameter(np.ones(2, np.float32))
    opt = optim.SGD([p], lr=0.1)
    p.grad = pe.Tensor(np.ones(2, np.float32))
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, 0)
    opt.zero_grad()
    assert p.grad is None


def test_state_dict_layout_and_round_trip():
    opt, params = run_trajectory(optim.Adam, ref.adam_step, dict(lr=0.01, amsgrad=True), np.float32, steps=2,
                                 shapes=[(3,), (4, 2)])
    sd = opt.state_dict()
    assert sd["param_groups"] == [{"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                                   "amsgrad": True, "maximize": False, "params": [0, 1]}]
    assert set(sd["state"]) == {0, 1}
    assert set(sd["state"][1]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert sd["state"][0]["step"].item() == 2
    # A fresh optimizer loaded from NumPy copies continues exactly like the original.
    twins = [Parameter(p.data.copy()) for p in params]
    twin = optim.Adam(twins, lr=0.5)
    twin.load_state_dict({"state": {k: {n: np.asarray(v.data) for n, v in s.items()} for k, s in sd["state"].items()},
                          "param_groups": sd["param_groups"]})
    assert twin.param_groups[0]["lr"] == 0.01 and twin.param_groups[0]["params"][0] is twins[0]
    assert twin.state[twins[0]]["exp_avg"].data is not opt.state[params[0]]["exp_avg"].data
    for p, q in zip(params, twins):
        g = np.full(p.shape, 0.3, np.float32)
        p.grad, q.grad = pe.Tensor(g), pe.Tensor(g.copy())
    opt.step()
    twin.step()
    for p, q in zip(params, twins):
        np.testing.assert_array_equal(p.data, q.data)


def test_load_state_dict_checks_group_sizes():
    a, b = Parameter(np.ones(2, np.float32)), Parameter(np.ones(2, np.float32))
    sd = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.SGD([a], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="number of parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)


def test_kernel_errors_name_op_and_argument():
    p = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=r"adam_update: exp_avg has shape \(3,\) but param has shape \(4,\)"):
        pe.kernels.adam_update(p, p, np.zeros(3, np.float32), p.copy(), step=1, lr=0.1, beta1=0.9, beta2=0.9,
                               eps=1e-8)
    with pytest.raises(TypeError, match="sgd_update: grad has dtype float64"):
        pe.kernels.sgd_update(p, np.zeros(4), lr=0.1)
    with pytest.raises(ValueError, match="sgd_update: param must be C-contiguous"):
        pe.kernels.sgd_update(np.zeros(8, np.float32)[::2], p, lr=0.1)
    ro = np.zeros(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="sgd_update: param is read-only"):
        pe.kernels.sgd_update(ro, p, lr=0.1)
    with pytest.raises(ValueError, match="momentum_buffer is required when momentum != 0"):
        pe.kernels.sgd_update(p, p, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="step must be >= 1"):
        pe.kernels.adagrad_update(p, p, p.copy(), step=0, lr=0.1)


def test_non_contiguous_grad_is_read_correctly():
    p = Parameter(np.zeros(5, np.float32))
    p.grad = pe.Tensor(np.arange(10, dtype=np.float32)[::2])
    optim.SGD([p], lr=1.0).step()
    np.testing.assert_array_equal(p.data, -np.arange(0, 10, 2))


# ---- learning-rate schedulers ------------------------------------------------------------


def scheduler_lrs(make, steps, lr=0.1, opt_cls=optim.SGD, **opt_kwargs):
    opt = opt_cls([Parameter(np.zeros(1, np.float32))], lr=lr, **opt_kwargs)
    sched = make(opt)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert lrs[-1] == opt.param_groups[0]["lr"]
    return np.array(lrs), sched, opt


def test_step_lr():
    lrs, _, _ = scheduler_lrs(lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 10)
    np.testing.assert_allclose(lrs, [0.1 * 0.5 ** (e // 3) for e in range(11)], rtol=1e-12)


def test_multistep_lr():
    lrs, _, _ = scheduler_lrs(lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, 5, 5], gamma=0.1), 7)
    np.testing.assert_allclose(lrs, [0.1, 0.1, 0.01, 0.01, 0.01, 1e-4, 1e-4, 1e-4], rtol=1e-12)


def test_exponential_lr():
    lrs, _, _ = scheduler_lrs(lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9), 6)
    np.testing.assert_allclose(lrs, [0.1 * 0.9 ** e for e in range(7)], rtol=1e-12)


def test_cosine_annealing_lr_follows_closed_form_past_t_max():
    T, eta = 5, 0.01
    lrs, _, _ = scheduler_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=T, eta_min=eta), 14)
    closed = [eta + (0.1 - eta) * (1 + math.cos(math.pi * e / T)) / 2 for e in range(15)]
    np.testing.assert_allclose(lrs, closed, rtol=1e-10, atol=1e-12)


def test_reduce_lr_on_plateau():
    opt = optim.SGD([Parameter(np.zeros(1, np.float32))], lr=1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=0.3)
    lrs = []
    for metric in [5, 4, 4, 4, 4, 4, 4, 4, 4, 3]:
        sched.step(metric)
        lrs.append(sched.get_last_lr()[0])
    # bad epochs: reduce after 2 (patience 1), then 1 epoch of cooldown; clamps at min_lr.
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3]
    sched2 = lr_scheduler.ReduceLROnPlateau(opt, mode="max", threshold_mode="abs", threshold=0.5, patience=0)
    sched2.step(1.0)
    sched2.step(1.6)  # better by more than the threshold
    assert sched2.best == 1.6 and opt.param_groups[0]["lr"] == 0.3
    sched2.step(1.9)  # not better by 0.5: reduced at once (patience 0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.03)


def one_cycle_closed_form(step, total, max_lr, pct, div, final_div):
    initial, low = max_lr / div, max_lr / div / final_div
    up_end = pct * total - 1

    def cos_anneal(a, b, frac):
        return b + (a - b) / 2 * (math.cos(math.pi * frac) + 1)

    if step <= up_end:
        return cos_anneal(initial, max_lr, step / up_end)
    return cos_anneal(max_lr, low, (step - up_end) / (total - 1 - up_end))


def test_one_cycle_lr_and_momentum():
    total = 20
    lrs, sched, opt = scheduler_lrs(lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=total), total - 1,
                                    momentum=0.9)
    expected = [one_cycle_closed_form(s, total, 1.0, 0.3, 25.0, 1e4) for s in range(total)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-10)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)  # back at max_momentum at the end
    with pytest.raises(ValueError, match="Tried to step 21 times"):
        opt.step()
        sched.step()
        sched.step()


def test_one_cycle_with_adam_cycles_beta1():
    _, _, opt = scheduler_lrs(lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, epochs=2, steps_per_epoch=5,
                                                                anneal_strategy="linear"), 3, opt_cls=optim.Adam)
    beta1 = opt.param_groups[0]["betas"][0]
    assert 0.85 < beta1 < 0.95 and opt.param_groups[0]["betas"][1] == 0.999


def test_scheduler_state_dict_round_trip():
    _, sched, opt = scheduler_lrs(lambda o: lr_scheduler.StepLR(o, step_size=2), 3)
    sd = sched.state_dict()
    assert sd["last_epoch"] == 3 and "optimizer" not in sd
    fresh = lr_scheduler.StepLR(opt, step_size=7)
    fresh.load_state_dict(sd)
    assert fresh.step_size == 2 and fresh.last_epoch == 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_kernels_across_vector_widths_and_misaligned_starts(dtype):
    """Sizes around the SIMD width (the tail goes through padded registers) and
    arrays starting 0-3 elements into their buffer (unaligned loads)."""
    rng = np.random.default_rng(1)
    for n in range(1, 19):
        for offset in range(4):
            buffers = [rng.standard_normal(n + offset).astype(dtype) for _ in range(4)]
            p, g, m, v = (b[offset:] for b in buffers)
            v[...] = np.abs(v)
            untouched = [b[:offset].copy() for b in buffers]
            state = {"exp_avg": m.astype(np.float64), "exp_avg_sq": v.astype(np.float64), "step": 2}
            expected = ref.adam_step(p.astype(np.float64), g.astype(np.float64), state, lr=0.1, weight_decay=0.1)
            pe.kernels.adam_update(p, g, m, v, step=3, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1)
            tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
            np.testing.assert_allclose(p, expected, **tol)
            np.testing.assert_allclose(m, state["exp_avg"], **tol)
            np.testing.assert_allclose(v, state["exp_avg_sq"], **tol)
            for b, head in zip(buffers, untouched):
                np.testing.assert_array_equal(b[:offset], head)


def test_step_with_closure_and_repr():
    p = Parameter(np.array([3.0], np.float32))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with pe.no_grad():  # the closure still records: step enables grad around it
        loss = opt.step(closure)
    assert loss.item() == 9.0 and p.data[0] == pytest.approx(3.0 - 0.25 * 6.0)
    assert repr(opt).startswith("SGD (\nParameter Group 0\n    dampening: 0.0\n")


def test_lambda_lr_per_group_and_state_dict():
    a, b = Parameter(np.zeros(1, np.float32)), Parameter(np.zeros(1, np.float32))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    sched = lr_scheduler.LambdaLR(opt, [lambda e: 0.5 ** e, lambda e: 1 / (e + 1)])
    for _ in range(3):
        sched.step()
    assert sched.get_last_lr() == [pytest.approx(0.1 * 0.125), pytest.approx(0.25)]
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [None, None] and sd["last_epoch"] == 3
    fresh = lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    fresh.load_state_dict(sd)
    fresh.step()
    assert fresh.last_epoch == 4 and fresh.get_last_lr() == [0.1, 1.0]  # its own function, the loaded epoch
