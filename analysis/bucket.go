package analysis

import "strings"

// BucketModules reads the modules a failure bucket names: the module of its class part,
// before the '!' ("0x3B_acme!Fn", "AV_acme_net!Fn", "0x27_SYMEVENT!Fn") or before
// "_IMAGE_" ("0x9F_3_nvlddmkm_IMAGE_pci.sys": the driver that held the power IRP), with the
// class words and codes removed; and the image after "_IMAGE_" ("pci.sys"). Either is ""
// when the bucket names none.
func BucketModules(b string) (module, image string) {
	head := b
	if i := strings.Index(b, "_IMAGE_"); i >= 0 {
		head, image = b[:i], b[i+len("_IMAGE_"):]
	} else if j := strings.IndexByte(b, '!'); j > 0 {
		head = b[:j]
	} else {
		return "", ""
	}
	toks := strings.Split(head, "_")
	k := 0
	for k < len(toks) && isBucketWord(toks[k]) {
		k++
	}
	switch {
	case k < len(toks):
		module = strings.Join(toks[k:], "_")
	case image == "":
		module = toks[len(toks)-1] // an upper-case module ("0x27_SYMEVENT!Fn")
	}
	return module, image
}

// isBucketWord reports a word of a bucket's class part: upper-case letters, a 0x code,
// digits and long hex numbers (subcodes, exception codes), or "(null)".
func isBucketWord(t string) bool {
	if t == "" || t == "(null)" || strings.HasPrefix(t, "0x") || len(t) >= 8 && isHexString(t) {
		return true
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
