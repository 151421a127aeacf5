package scenarios

import "testing"

func TestSuggest(t *testing.T) {
	names := []string{"appgw-v1", "appgw-v2", "apache", "nginx", "appgw-v2-apache-default"}
	for _, tc := range []struct {
		name, want string
	}{
		{"apahce", `did you mean "apache"?`},
		{"APACHE", `did you mean "apache"?`},
		{"appgw-v3", `did you mean "appgw-v1" or "appgw-v2"?`},
		{"appgw-v2-apache-defualt", `did you mean "appgw-v2-apache-default"?`},
		{"ngnix", `did you mean "nginx"?`},
		{"iis", ""},
		{"x", ""},
		{"", ""},
		{"apache", ""}, // itself is not a suggestion
	} {
		if got := DidYouMean(tc.name, names); got != tc.want {
			t.Errorf("DidYouMean(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"abc", "abc", 0}, {"abc", "acb", 1}, {"kitten", "sitting", 3}, {"defualt", "default", 1},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
