# Evaluates a float64 encode graph (onnxModels(…, 'float64')) in numpy, every operation in double
# precision, and compares float32 results with it: the reference of scripts/exactness.ts.
#   python3 scripts/onnx_float64.py GRAPH X_BIN COUNT H W C NAME=EPS_BIN:BPD_BIN ...
# X_BIN, EPS_BIN and BPD_BIN are raw little-endian float32 arrays. Prints JSON, one object per NAME.
import json, sys
import numpy as np
import onnx
from onnx import numpy_helper

graph_file, x_file, count, h, w, c = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
model = onnx.load(graph_file)
consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def conv(x, wt, b, node):
    pads = attr(node, 'pads', [0, 0, 0, 0])
    group = attr(node, 'group', 1)
    n, _, height, width = x.shape
    out_c, in_per_group, kh, kw = wt.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    ho, wo = height + pads[0] + pads[2] - kh + 1, width + pads[1] + pads[3] - kw + 1
    out = np.zeros((n, out_c, ho, wo))
    per_group = out_c // group
    for g in range(group):
        xs = xp[:, g * in_per_group:(g + 1) * in_per_group]
        ws = wt[g * per_group:(g + 1) * per_group]
        for ky in range(kh):
            for kx in range(kw):
                out[:, g * per_group:(g + 1) * per_group] += np.einsum('nchw,oc->nohw', xs[:, :, ky:ky + ho, kx:kx + wo], ws[:, :, ky, kx], optimize=True)
    return out if b is None else out + b.reshape(1, -1, 1, 1)


UNARY = {'Relu': lambda a: np.maximum(a, 0), 'Sigmoid': lambda a: 1 / (1 + np.exp(-a)), 'Softplus': lambda a: np.logaddexp(0, a),
         'Log': np.log, 'Exp': np.exp, 'Neg': np.negative, 'Identity': lambda a: a}
BINARY = {'Add': np.add, 'Sub': np.subtract, 'Mul': np.multiply, 'Div': np.divide, 'Max': np.maximum, 'Min': np.minimum}


def run(x):
    v = dict(consts)
    v[model.graph.input[0].name] = x
    for node in model.graph.node:
        i = [v[k] for k in node.input]
        t = node.op_type
        if t == 'Conv':
            r = conv(i[0], i[1], i[2] if len(i) > 2 else None, node)
        elif t in UNARY:
            r = UNARY[t](i[0])
        elif t in BINARY:
            r = BINARY[t](i[0], i[1])
        elif t == 'Transpose':
            r = np.transpose(i[0], attr(node, 'perm'))
        elif t == 'Reshape':
            r = i[0].reshape([i[0].shape[k] if s == 0 else s for k, s in enumerate(i[1].tolist())])
        elif t == 'Split':
            r = np.split(i[0], np.cumsum(i[1].tolist())[:-1], axis=attr(node, 'axis', 0))
        elif t == 'Concat':
            r = np.concatenate(i, axis=attr(node, 'axis'))
        elif t == 'Clip':
            r = np.clip(i[0], i[1], i[2])
        elif t == 'Sum':
            r = sum(i)
        elif t == 'ReduceSum':
            r = i[0].sum(axis=tuple(i[1].tolist()), keepdims=bool(attr(node, 'keepdims', 1)))
        else:
            raise ValueError(f'no float64 evaluation of {t}')
        for name, value in zip(node.output, r if isinstance(r, list) else [r]):
            v[name] = value
    return v['eps'], v['bpd']


x = np.fromfile(x_file, np.float32)[:count * h * w * c].astype(np.float64).reshape(count, h, w, c)
refs = [run(x[s:s + 64]) for s in range(0, count, 64)]
eps_ref, bpd_ref = np.concatenate([e for e, _ in refs]), np.concatenate([b for _, b in refs])
report = {}
for spec in sys.argv[7:]:
    name, files = spec.split('=', 1)
    eps_file, bpd_file = files.split(':')
    eps = np.abs(np.fromfile(eps_file, np.float32).astype(np.float64).reshape(eps_ref.shape) - eps_ref)
    bpd = np.abs(np.fromfile(bpd_file, np.float32).astype(np.float64) - bpd_ref)
    report[name] = {'epsMax': eps.max(), 'epsMean': eps.mean(), 'eps9999': float(np.quantile(eps, 0.9999)), 'bpdMax': bpd.max()}
print(json.dumps(report))
