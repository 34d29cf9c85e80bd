/**
 * SKEL texts shared by the tests and the benchmarks (tests/skel/parser.test.ts,
 * tests/validation/validation.test.ts, bench/skel.ts).
 */

/** SimKube examples/sanitize.skel: its 11 commands, without the comment header. */
export const SANITIZE_SKEL = `remove(status);
remove(spec.template.spec.serviceAccount);
remove(spec.template.spec.serviceAccountName);
remove($x := spec.template.spec.containers[*].env[*] | exists($x.valueFrom.configMapKeyRef), $x);
remove($x := spec.template.spec.containers[*].env[*] | exists($x.valueFrom.secretKeyRef), $x);
remove($x := spec.template.spec.containers[*].envFrom[*] | exists($x.configMapRef), $x);
remove($x := spec.template.spec.containers[*].envFrom[*] | exists($x.secretRef), $x);
remove($x := spec.template.spec.volumes[*] | exists($x.secret)
    && $y := spec.template.spec.containers[*].volumeMounts[*] | $y.name == $x.name,
    $y);
remove($x := spec.template.spec.volumes[*] | exists($x.configMap)
    && $y := spec.template.spec.containers[*].volumeMounts[*] | $y.name == $x.name,
    $y);
remove($x := spec.template.spec.volumes[*] | exists($x.secret), $x);
remove($x := spec.template.spec.volumes[*] | exists($x.configMap), $x);
`;
