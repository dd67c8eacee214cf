package model

import "strings"

// Instance types with instance storage. SageMaker encrypts the local NVMe
// volumes of these types with a hardware module on the instance and refuses
// a ResourceConfig.VolumeKmsKeyId for them: "Certain Nitro-based instances
// include local storage, dependent on the instance type. Local storage
// volumes are encrypted using a hardware module on the instance. You can't
// request a VolumeKmsKeyId when using an instance type with local storage."
// (SageMaker API reference, ResourceConfig). The usual training plan types
// (p4d, p5, trn1, ...) are among them.
//
// The table is the one place that knows; docs/training-plans.md lists it.
//
// instanceStorageFamilies are the families whose every size has instance
// storage although their names do not say so.
var instanceStorageFamilies = map[string]bool{
	"p5": true, "p5e": true, "p5en": true, "p6-b200": true, "p6-b300": true, "p6e-gb200": true,
	"g5": true, "g6": true, "g6e": true, "gr6": true,
	"trn1": true, "trn1n": true, "trn2": true,
}

// HasInstanceStorage reports whether a SageMaker instance type
// ("ml.p5.48xlarge") has local instance storage: a family in the table
// above, or one whose name marks local disks with a "d" after the
// generation (ml.p4d, ml.p4de, ml.g4dn, ml.p3dn, ml.c5d, ml.m6id, ...), as
// EC2 names them.
func HasInstanceStorage(instanceType string) bool {
	family, _, ok := strings.Cut(strings.TrimPrefix(instanceType, "ml."), ".")
	if !ok || family == "" {
		return false
	}
	if instanceStorageFamilies[family] {
		return true
	}
	// The attributes follow the series letters and the generation digits:
	// p4d -> "d", g4dn -> "dn", m6id -> "id".
	i := 0
	for i < len(family) && family[i] >= 'a' && family[i] <= 'z' {
		i++
	}
	j := i
	for j < len(family) && family[j] >= '0' && family[j] <= '9' {
		j++
	}
	if i == 0 || j == i {
		return false
	}
	attrs, _, _ := strings.Cut(family[j:], "-")
	return strings.Contains(attrs, "d")
}
