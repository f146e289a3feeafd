// glow_blas: single-precision GEMM from OpenBLAS on Float32Array views, for the TF.js wasm backend's
// matMul and convolution kernels (src/backend/native-blas.ts). The views are into the wasm heap, so
// no data is copied: C = A·B (or A·Bᵀ, Aᵀ·B, …), or C += … with `accumulate`. Also a plain
// double-precision C = A·B on Float64Arrays, for the float64 graph runner (src/backend/float64-graph.ts).
#include <cblas.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>

#define CHECK(call)                                                         \
  do {                                                                      \
    if ((call) != napi_ok) {                                                \
      napi_throw_error(env, NULL, "glow_blas: bad argument to " #call);    \
      return NULL;                                                          \
    }                                                                       \
  } while (0)

// The data of a typed array of the given type (its length in *length), or NULL when v is not one.
static void *typed(napi_env env, napi_value v, napi_typedarray_type want, size_t *length) {
  napi_typedarray_type type;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, length, &data, NULL, NULL) != napi_ok || type != want) return NULL;
  return data;
}

static float *floats(napi_env env, napi_value v, size_t *length) { return typed(env, v, napi_float32_array, length); }
static double *doubles(napi_env env, napi_value v, size_t *length) { return typed(env, v, napi_float64_array, length); }

// gemm(a, b, c, M, N, K, transA, transB, accumulate): c[M,N] (+)= op(a)·op(b), row-major,
// op(a) is [M,K] (a stored [K,M] when transA), op(b) is [K,N] (b stored [N,K] when transB).
static napi_value gemm(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 9) {
    napi_throw_type_error(env, NULL, "glow_blas.gemm takes (a, b, c, M, N, K, transA, transB, accumulate)");
    return NULL;
  }
  size_t la, lb, lc;
  float *a = floats(env, argv[0], &la), *b = floats(env, argv[1], &lb), *c = floats(env, argv[2], &lc);
  if (!a || !b || !c) {
    napi_throw_type_error(env, NULL, "glow_blas.gemm: a, b and c must be Float32Arrays");
    return NULL;
  }
  int64_t m, n, k;
  bool ta, tb, acc;
  CHECK(napi_get_value_int64(env, argv[3], &m));
  CHECK(napi_get_value_int64(env, argv[4], &n));
  CHECK(napi_get_value_int64(env, argv[5], &k));
  CHECK(napi_get_value_bool(env, argv[6], &ta));
  CHECK(napi_get_value_bool(env, argv[7], &tb));
  CHECK(napi_get_value_bool(env, argv[8], &acc));
  if (m < 1 || n < 1 || k < 1 || (int64_t)la < m * k || (int64_t)lb < k * n || (int64_t)lc < m * n) {
    napi_throw_range_error(env, NULL, "glow_blas.gemm: the arrays are shorter than M, N, K say");
    return NULL;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a,
              ta ? (int)m : (int)k, b, tb ? (int)k : (int)n, acc ? 1.0f : 0.0f, c, (int)n);
  return NULL;
}

// dgemm(a, b, c, M, N, K): c[M,N] = a[M,K]·b[K,N], row-major, in double precision.
static napi_value dgemm(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 6) {
    napi_throw_type_error(env, NULL, "glow_blas.dgemm takes (a, b, c, M, N, K)");
    return NULL;
  }
  size_t la, lb, lc;
  double *a = doubles(env, argv[0], &la), *b = doubles(env, argv[1], &lb), *c = doubles(env, argv[2], &lc);
  if (!a || !b || !c) {
    napi_throw_type_error(env, NULL, "glow_blas.dgemm: a, b and c must be Float64Arrays");
    return NULL;
  }
  int64_t m, n, k;
  CHECK(napi_get_value_int64(env, argv[3], &m));
  CHECK(napi_get_value_int64(env, argv[4], &n));
  CHECK(napi_get_value_int64(env, argv[5], &k));
  if (m < 1 || n < 1 || k < 1 || (int64_t)la < m * k || (int64_t)lb < k * n || (int64_t)lc < m * n) {
    napi_throw_range_error(env, NULL, "glow_blas.dgemm: the arrays are shorter than M, N, K say");
    return NULL;
  }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0, a, (int)k, b, (int)n, 0.0, c, (int)n);
  return NULL;
}

static napi_value set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t threads;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_int32(env, argv[0], &threads));
  openblas_set_num_threads(threads < 1 ? 1 : threads);
  return NULL;
}

static napi_value config(napi_env env, napi_callback_info info) {
  napi_value s;
  CHECK(napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &s));
  return s;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"gemm", NULL, gemm, NULL, NULL, NULL, napi_default, NULL},
      {"dgemm", NULL, dgemm, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_default, NULL},
      {"config", NULL, config, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, 4, props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
