"""tweedie's DPM-Solver++ driving a PyTorch network defined here: a small noise predictor trained
in a few seconds by denoising score matching on a two-Gaussian target, then sampled through
tweedie.PythonModel (called once per chunk of rows, with the GIL taken only around the call).

    PYTHONPATH=build/dev/python /usr/bin/python3 examples/python/torch_dpm_solver.py"""
import os

import numpy as np
import torch

import tweedie

small = bool(os.environ.get("TWEEDIE_EXAMPLE_SMALL"))
torch.manual_seed(0)
torch.set_num_threads(1)
sde = tweedie.Sde("vp")
target = tweedie.GaussianMixture(weights=[0.5, 0.5], means=[[-1.5, 0.0], [1.5, 0.0]], stds=[[0.3, 0.3], [0.3, 0.3]])


class Net(torch.nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(3, width), torch.nn.SiLU(), torch.nn.Linear(width, width),
                                        torch.nn.SiLU(), torch.nn.Linear(width, 2))

    def forward(self, x, t):
        return self.body(torch.cat([x, t[:, None]], dim=1))


net = Net()
optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
data = torch.from_numpy(target.sample(sde, n=20000, seed=1)).float()
T = np.linspace(1e-3, 1.0, 1000)
alpha = torch.tensor([sde.alpha(t) for t in T]).float()
sigma = torch.tensor([sde.sigma(t) for t in T]).float()
for step in range(50 if small else 3000):
    i = torch.randint(0, len(data), (512,))
    k = torch.randint(0, len(T), (512,))
    eps = torch.randn(512, 2)
    x = alpha[k, None] * data[i] + sigma[k, None] * eps
    loss = ((net(x, torch.from_numpy(T).float()[k]) - eps) ** 2).mean()
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
print(f"trained: final denoising loss {loss.item():.4f}")


@torch.no_grad()
def predict_noise(x, t):
    # x, t: read-only float64 views of tweedie's buffers, converted (copied) to float32 tensors.
    return net(torch.tensor(x, dtype=torch.float32), torch.tensor(t, dtype=torch.float32)).double().numpy()


model = tweedie.PythonModel(predict_noise, prediction="noise", dim=2, sde=sde)
n = 500 if small else 20000
x, stats = tweedie.sample(model, sampler="dpm-solver++", steps=15, n=n, seed=3, stats=True)
exact = target.sample(sde, n=n, seed=4)
print(f"{stats['sampler']}: NFE/sample {stats['nfe_per_sample']:g}, {stats['samples_per_second']:.0f} samples/s, "
      f"SW2 to exact {tweedie.sliced_wasserstein(x, exact):.4f}, "
      f"mass right of 0: {np.mean(x[:, 0] > 0):.3f} (exact 0.5)")
