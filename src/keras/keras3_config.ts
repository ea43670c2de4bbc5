/**
 * Keras 3 model configs (config.json of a `.keras`, `model_config` of a Keras 3 `.h5`, or a
 * model.json in Keras 3's node format) parsed into the shared graph form of graph.ts.
 *
 * What Keras 3 writes (keras/src/models/functional.py `serialize_node`, keras/src/saving/
 * serialization_lib.py `serialize_keras_object`):
 * - a call (inbound node) is `{"args": [...], "kwargs": {...}}`, every tensor in it a
 *   `{"class_name": "__keras_tensor__", "config": {"shape", "dtype", "keras_history": [layer, node, tensor]}}`;
 *   a layer called on a list (Add) has that list as its one argument;
 * - nested objects are `{"module", "class_name", "config", "registered_name"}` (initializers,
 *   regularizers, constraints, and the layer's `dtype`, a `DTypePolicy` whose config names it);
 * - `InputLayer` has `batch_shape` (Keras 2: `batch_input_shape`) and may have `optional`;
 * - each layer may carry `build_config` (input shapes); tfjs infers shapes from the graph instead.
 */
import { KerasGraph, LayerJson, NestedModel, NodeCall, sequentialGraph, TensorRef } from './graph';
import { describeValue as describe } from '../describe';
import { describeValue } from './source';

/** Whether a model config uses Keras 3's node format (any node an {args, kwargs} object). */
export function isKeras3Config(modelConfig: unknown): boolean {
  const layers = (modelConfig as { config?: { layers?: unknown } })?.config?.layers;
  if (!Array.isArray(layers)) return false;
  return layers.some(
    (l) =>
      Array.isArray(l?.inbound_nodes) &&
      l.inbound_nodes.some((n: unknown) => n != null && typeof n === 'object' && !Array.isArray(n)),
  );
}

/** Parses a Keras 3 `Functional` or `Sequential` config; subclassed models are refused with what to do. */
export function parseKeras3Config(modelConfig: unknown, where: string): KerasGraph {
  const root = asObject(modelConfig, where, 'the model config');
  const className = root.class_name;
  if (className !== 'Functional' && className !== 'Model' && className !== 'Sequential') {
    throw new Error(
      `${where}: the model is a ${String(className)}; only functional and Sequential models can be loaded ` +
        '(a subclassed model has no graph in its config)',
    );
  }
  const { config, layers: parsed } = parseLayers(root, where, parseNode, true, parseNestedModel);
  const layers = parsed.map((l) => ({ ...l, keras3: true }));
  if (className === 'Sequential') return sequentialGraph(String(config.name ?? 'sequential'), layers, where);
  return {
    name: String(config.name ?? 'model'),
    layers,
    inputs: refList(config.input_layers, where, 'input_layers'),
    outputs: refList(config.output_layers, where, 'output_layers'),
  };
}

/**
 * A Keras 3 model nested in a model. Keras 3 counts its calls from 0 in call arguments
 * (functional.py `serialize_node` drops the calls outside the outer model), but a `Functional`'s
 * from 1 in `input_layers`/`output_layers` (`get_config`'s `node_reindexing_map` starts a
 * Functional at 1, and `functional_from_config`'s `get_tensor` subtracts it again); a Sequential
 * is not a Functional there.
 */
function parseNestedModel(layer: Record<string, unknown>, where: string): NestedModel {
  const graph = parseKeras3Config(layer, where);
  return { graph, firstCall: { nodes: 0, io: layer.class_name === 'Sequential' ? 0 : 1 } };
}

/** Whether a layer entry is a functional or Sequential model of Keras's own, used as a layer. */
function isNestedModel(layer: Record<string, unknown>): boolean {
  const config = layer.config as { layers?: unknown } | null;
  return (
    (layer.class_name === 'Functional' || layer.class_name === 'Sequential' || layer.class_name === 'Model') &&
    Array.isArray(config?.layers) &&
    (layer.module == null || /^(keras|tf_keras|tensorflow)(\.|$)/.test(String(layer.module)))
  );
}

/**
 * The model config's `config` and its layers, each with its calls parsed by `parseNode` (the part
 * where Keras 2 and Keras 3 differ) and, for a model nested in it, its own graph parsed by
 * `parseModel` (nested_models.ts inlines it). `module` and `registered_name` are read only for
 * Keras 3 (`readModules`); Keras 2 layers are resolved by class name alone.
 */
export function parseLayers(
  root: Record<string, unknown>,
  where: string,
  parseNode: (node: unknown, where: string) => NodeCall,
  readModules: boolean,
  parseModel: (layer: Record<string, unknown>, where: string) => NestedModel,
): { config: Record<string, unknown>; layers: LayerJson[] } {
  const config = asObject(root.config, where, 'the model config.config');
  if (!Array.isArray(config.layers)) throw new Error(`${where}: the model config has no layers list`);
  const layers: LayerJson[] = config.layers.map((entry: unknown, i: number) => {
    const layer = asObject(entry, where, `layer ${i}`);
    const name = String(layer.name ?? (layer.config as Record<string, unknown>)?.name ?? '');
    const at = `${where}: layer '${name}'`;
    const nodes = Array.isArray(layer.inbound_nodes) ? layer.inbound_nodes : [];
    const nested = isNestedModel(layer) ? parseModel(layer, `${at} (a nested ${String(layer.class_name)})`) : null;
    const layerConfig = asObject(layer.config ?? {}, at, 'config');
    return {
      class_name: String(layer.class_name),
      name,
      module: readModules && typeof layer.module === 'string' ? layer.module : null,
      registered_name: readModules && typeof layer.registered_name === 'string' ? layer.registered_name : null,
      // A nested model's config is its graph, parsed into `model`.
      config: nested == null ? normalizeConfig(layerConfig, at) : { name, trainable: layerConfig.trainable ?? true },
      nodes: nodes.map((node: unknown, n: number) => parseNode(node, `${at} call ${n}`)),
      ...(nested == null ? {} : { model: nested }),
    };
  });
  return { config, layers };
}

function parseNode(node: unknown, where: string): NodeCall {
  const call = asObject(node, where, 'the call');
  if (!Array.isArray(call.args)) throw new Error(`${where}: expected {args: [...], kwargs: {...}}, got no args list`);
  return {
    args: call.args.map((a) => parseValue(a, where)),
    kwargs: Object.fromEntries(
      Object.entries(asObject(call.kwargs ?? {}, where, 'kwargs')).map(([k, v]) => [k, parseValue(v, where)]),
    ),
  };
}

/** A call argument: tensors become TensorRef, lists and plain values stay. */
function parseValue(value: unknown, where: string): unknown {
  if (Array.isArray(value)) return value.map((v) => parseValue(v, where));
  if (value != null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    if (object.class_name === '__keras_tensor__') {
      const history = (object.config as { keras_history?: unknown })?.keras_history;
      return tensorRef(history, where);
    }
    if (object.class_name === '__tensor__' || object.class_name === '__numpy__') {
      // A constant tensor (`x + table`): its values as nested lists, checked where it is used.
      const value = (object.config as { value?: unknown })?.value;
      if (typeof value !== 'number' && !Array.isArray(value)) {
        throw new Error(`${where}: a constant tensor (${object.class_name}) without a value list`);
      }
      return value;
    }
    return object;
  }
  return value;
}

export function tensorRef(value: unknown, where: string): TensorRef {
  if (
    !Array.isArray(value) ||
    value.length < 3 ||
    typeof value[0] !== 'string' ||
    !Number.isInteger(value[1]) ||
    !Number.isInteger(value[2]) ||
    value[1] < 0 ||
    value[2] < 0
  ) {
    throw new Error(
      `${where}: tensor reference ${JSON.stringify(value)}; expected [layer name, node index, tensor index]`,
    );
  }
  return new TensorRef(value[0], value[1], value[2]);
}

export function refList(value: unknown, where: string, what: string): TensorRef[] {
  if (!Array.isArray(value)) throw new Error(`${where}: the model config's ${what} is ${describeValue(value)}`);
  // A single tensor may be written unwrapped: ["dense", 0, 0].
  if (value.length === 3 && typeof value[0] === 'string') return [tensorRef(value, `${where}: ${what}`)];
  return value.map((v) => tensorRef(v, `${where}: ${what}`));
}

/**
 * Keras 3 config values as tfjs (and Keras 2) write them: a DTypePolicy becomes its name (only
 * float32 computes in tfjs), nested serialized objects keep class_name and config only.
 */
export function normalizeConfig(config: Record<string, unknown>, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) out[key] = normalizeValue(key, value, where);
  return out;
}

function normalizeValue(key: string, value: unknown, where: string): unknown {
  if (Array.isArray(value)) return value.map((v) => normalizeValue(key, v, where));
  if (value == null || typeof value !== 'object') return value;
  const object = value as Record<string, unknown>;
  if (object.class_name === 'DTypePolicy' || object.class_name === 'DTypePolicyMap' || key === 'dtype') {
    const name = (object.config as { name?: unknown })?.name ?? object.name;
    if (name !== 'float32' && name !== 'int32') {
      throw new Error(
        `${where}: dtype policy ${describe(name)} is not supported; tfjs computes layers in float32: ` +
          'save the model with the float32 policy',
      );
    }
    return name;
  }
  if (typeof object.class_name === 'string' && 'config' in object) {
    const inner = object.config;
    return {
      class_name: object.class_name,
      config:
        inner != null && typeof inner === 'object' && !Array.isArray(inner)
          ? normalizeConfig(inner as Record<string, unknown>, where)
          : inner,
    };
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(object)) if (k !== 'shared_object_id') out[k] = normalizeValue(k, v, where);
  return out;
}

export function asObject(value: unknown, where: string, what: string): Record<string, unknown> {
  if (value == null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${where}: ${what} is ${describeValue(value)}; expected a JSON object`);
  }
  return value as Record<string, unknown>;
}
