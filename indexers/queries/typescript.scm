; Shared by TypeScript and TSX: only node types both grammars have (no JSX here).

; Definitions
(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(class_declaration name: (type_identifier) @name) @definition.class
(abstract_class_declaration name: (type_identifier) @name) @definition.class
(interface_declaration name: (type_identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(type_alias_declaration name: (type_identifier) @name) @definition.type
(internal_module name: (identifier) @name) @definition.module
(class_body (method_definition name: [(property_identifier) (private_property_identifier)] @name) @definition.function)
(class_body (abstract_method_signature name: (property_identifier) @name) @definition.function)
(interface_body (method_signature name: (property_identifier) @name) @definition.function)
; const foo = () => {}, const foo = function () {}, const Foo = class {}
(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)] @definition.function)
(variable_declarator name: (identifier) @name value: (class) @definition.class)
; Top-level constants (not functions): const MAX_RETRIES = 3, export const DEFAULTS = {...}
((program (lexical_declaration (variable_declarator name: (identifier) @name
  value: [(string) (template_string) (number) (object) (array) (call_expression) (new_expression) (member_expression) (binary_expression) (unary_expression) (identifier) (true) (false) (null) (regex) (as_expression) (satisfies_expression)]) @definition.constant))
  (#match? @name "^_*[A-Z][A-Z0-9_]*$"))
((program (export_statement (lexical_declaration (variable_declarator name: (identifier) @name
  value: [(string) (template_string) (number) (object) (array) (call_expression) (new_expression) (member_expression) (binary_expression) (unary_expression) (identifier) (true) (false) (null) (regex) (as_expression) (satisfies_expression)]) @definition.constant)))
  (#match? @name "^_*[A-Z][A-Z0-9_]*$"))
; class fields holding functions: handler = () => {}
(public_field_definition
  name: [(property_identifier) (private_property_identifier)] @name
  value: [(arrow_function) (function_expression)] @definition.function)
; Assigned at the top level: exports.foo = function () {}, Foo.prototype.bar = () => {},
; res.send = function send() {} (the `qualifier` hook names the owner)
((program (expression_statement (assignment_expression
  left: (member_expression property: (property_identifier) @name)
  right: [(arrow_function) (function_expression)] @definition.function)))
  (#not-eq? @name "exports"))

; Methods of object literals: {transform() {}}, {load: function () {}}, {resolveId: () => {}};
; the `owner` hook names them after where the object is (a function returning it, a variable)
(object (method_definition name: [(property_identifier) (private_property_identifier)] @name) @definition.function)
(object (pair key: (property_identifier) @name value: [(arrow_function) (function_expression) (generator_function)] @definition.function))
; Anonymous default exports, named after their file by the `owner` hook: vite.config.default
(export_statement "default" @name value: [(function_expression) (arrow_function) (generator_function)] @definition.function)
(export_statement "default" @name value: (class) @definition.class)
(export_statement "default" @name value: [(object) (call_expression)] @definition.constant)

; References
(call_expression function: [(identifier) (member_expression)] @reference.call)
(new_expression constructor: [(identifier) (member_expression)] @reference.call)
(extends_clause value: [(identifier) (member_expression)] @reference.inherit)
(implements_clause [(type_identifier) (nested_type_identifier)] @reference.inherit)
(implements_clause (generic_type name: [(type_identifier) (nested_type_identifier)] @reference.inherit))
(extends_type_clause type: [(type_identifier) (nested_type_identifier)] @reference.inherit)
(extends_type_clause type: (generic_type name: [(type_identifier) (nested_type_identifier)] @reference.inherit))
; JSX elements (<Item />, not intrinsic <div>) name a component. Written without JSX node
; types, which the TypeScript grammar lacks: only JSX elements have a `name` right after "<".
((_ "<" . name: [(identifier) (member_expression)] @reference.call)
  (#match? @reference.call "^[A-Z]|[.]"))

; Imports and exports (the hooks keep what binds a name)
(import_statement) @import
(export_statement) @import
(program (lexical_declaration (variable_declarator value: [(call_expression) (member_expression)])) @import)
(program (variable_declaration (variable_declarator value: [(call_expression) (member_expression)])) @import)
(program (expression_statement (assignment_expression left: (member_expression))) @import)
